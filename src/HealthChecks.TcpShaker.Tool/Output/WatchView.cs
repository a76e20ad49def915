using System.Globalization;
using System.Text;
using System.Text.Json;
using HealthChecks.TcpShaker.Tool.Commands;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace HealthChecks.TcpShaker.Tool.Output;

/// <summary>
/// What <c>watch</c> shows: a line or a JSON object per change of health, the live table of the watches
/// (health, since when, the last check, a strip of recent results), and the summary when it stops.
/// </summary>
internal static class WatchView
{
    /// <summary>How many recent results the strip shows, oldest first.</summary>
    internal const int StripLength = 20;

    /// <summary>How many changes of health the live display lists under the table.</summary>
    internal const int ChangesShown = 8;

    /// <summary>The strip's legend.</summary>
    internal const string Legend = "+ open, R refused, T timeout, U unreachable, D resolve failed, E local error";

    private static readonly string[] SummaryHeader = ["TARGET", "HEALTH", "SINCE", "CHECKS", "RECENT"];

    /// <summary>One character per result in the strip.</summary>
    internal static char StripGlyph(TcpCheckStatus status) => status switch
    {
        TcpCheckStatus.Open => '+',
        TcpCheckStatus.Refused => 'R',
        TcpCheckStatus.Timeout => 'T',
        TcpCheckStatus.Unreachable => 'U',
        TcpCheckStatus.ResolveFailed => 'D',
        _ => 'E',
    };

    /// <summary>The last <see cref="StripLength"/> results of a watch, oldest first, as glyphs.</summary>
    internal static string Strip(TcpWatch watch)
    {
        IReadOnlyList<TcpWatchSample> samples = watch.RecentResults;
        var strip = new StringBuilder(StripLength);
        for (int i = Math.Max(0, samples.Count - StripLength); i < samples.Count; i++)
        {
            strip.Append(StripGlyph(samples[i].Status));
        }

        return strip.ToString();
    }

    /// <summary>"2026-11-25T21:10:00.123Z  127.0.0.1:8080  Up -> Down: 3 refusals in a row (127.0.0.1:8080 refused the connection)".</summary>
    internal static string ChangeLine(TcpHealthChange change)
    {
        string line = $"{Timestamp(change.At)}  {change.Watch.Endpoint}  {change.Previous} -> {change.Current}: {change.Reason}";
        return change.Current == TcpTargetHealth.Down ? $"{line} ({change.LastResult.Describe()})" : line;
    }

    /// <summary>One change as a one-line JSON object: when, which target, from and to, why, and the deciding check.</summary>
    internal static string ChangeJson(TcpShakerMode mode, TcpHealthChange change)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            TcpCheckResult result = change.LastResult;
            json.WriteStartObject();
            json.WriteString("at", Timestamp(change.At));
            json.WriteString("target", change.Watch.Endpoint.ToString());
            json.WriteString("previous", change.Previous.ToString());
            json.WriteString("current", change.Current.ToString());
            json.WriteString("reason", change.Reason);
            json.WriteString("mode", mode.ToString());
            if (result.RemoteEndPoint is { } remote)
            {
                json.WriteString("address", remote.ToString());
            }
            else
            {
                json.WriteNull("address");
            }

            json.WriteString("status", result.Status.ToString());
            json.WriteNumber("elapsedMs", Math.Round(result.Elapsed.TotalMilliseconds, 3));
            json.WriteString("description", result.Describe());
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The live display: the watches' table and the latest changes of health under it.</summary>
    internal static IRenderable Render(TcpShakerMode mode, WatchSettings settings, IReadOnlyList<TcpWatch> watches, IReadOnlyList<TcpHealthChange> changes)
    {
        var table = new Table()
            .Title($"tcp-shaker watch: mode {mode}, {settings.Describe()}")
            .Caption("Ctrl+C to stop")
            .AddColumns("TARGET", "HEALTH", "SINCE", "CHECKS", "LAST", "TIME", "RECENT");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        foreach (TcpWatch watch in watches)
        {
            TcpTargetHealth health = watch.Health;
            DateTimeOffset since = watch.Since;
            TcpCheckResult? last = watch.LastResult;
            table.AddRow(
                Markup.Escape(watch.Endpoint.ToString()),
                watch.UnknownReason is { } why ? $"[{HealthColor(health)}]{health}[/] [grey]({Markup.Escape(why)})[/]" : $"[{HealthColor(health)}]{health}[/]",
                $"{since.UtcDateTime.ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture)} ({Durations.Format(TimeSpan.FromSeconds(Math.Floor(Math.Max(0, (now - since).TotalSeconds))))})",
                watch.Checks.ToString(CultureInfo.InvariantCulture),
                last is { } l ? $"[{ResultText.StatusColor(l.Status)}]{ResultText.StatusWord(l.Status)}[/]" : "-",
                last is { } t ? ResultText.Milliseconds(t.Elapsed) : "-",
                ColouredStrip(watch));
        }

        var lines = new List<IRenderable> { table, new Markup($"[grey]RECENT: the last {StripLength.ToString(CultureInfo.InvariantCulture)} checks, oldest first: {Legend}[/]") };
        foreach (TcpHealthChange change in changes)
        {
            lines.Add(new Markup($"[{HealthColor(change.Current)}]{Markup.Escape(ChangeLine(change))}[/]"));
        }

        return new Rows(lines);
    }

    /// <summary>Where every watch stands, aligned columns: written when a redirected watch stops.</summary>
    internal static void WriteSummary(ToolConsole console, IReadOnlyList<TcpWatch> watches)
    {
        var rows = new List<string[]> { SummaryHeader };
        rows.AddRange(watches.Select(w => new[]
        {
            w.Endpoint.ToString(), w.Health.ToString(), Timestamp(w.Since), w.Checks.ToString(CultureInfo.InvariantCulture), Strip(w),
        }));
        int[] widths = [.. Enumerable.Range(0, SummaryHeader.Length).Select(i => rows.Max(r => r[i].Length))];
        foreach (string[] row in rows)
        {
            console.Out.WriteLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
        }

        console.Out.Flush();
    }

    private static string ColouredStrip(TcpWatch watch)
    {
        var strip = new StringBuilder();
        foreach (char glyph in Strip(watch))
        {
            string colour = glyph switch
            {
                '+' => "green",
                'T' => "yellow",
                'E' => "fuchsia",
                _ => "red",
            };
            strip.Append(CultureInfo.InvariantCulture, $"[{colour}]{glyph}[/]");
        }

        return strip.ToString();
    }

    private static string HealthColor(TcpTargetHealth health) => health switch
    {
        TcpTargetHealth.Up => "green",
        TcpTargetHealth.Down => "red",
        _ => "grey",
    };

    private static string Timestamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
