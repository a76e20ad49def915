using System.Globalization;
using System.Text;
using Spectre.Console;

namespace HealthChecks.TcpShaker.Tool.Output;

/// <summary>Plain-text rows for results: aligned columns, the status coloured on a terminal.</summary>
internal static class ResultText
{
    internal static readonly string[] Header = ["STATUS", "TARGET", "ADDRESS", "TIME"];

    internal static string StatusWord(TcpCheckStatus status) => status switch
    {
        TcpCheckStatus.Open => "OPEN",
        TcpCheckStatus.Refused => "REFUSED",
        TcpCheckStatus.Timeout => "TIMEOUT",
        TcpCheckStatus.Unreachable => "UNREACHABLE",
        TcpCheckStatus.ResolveFailed => "RESOLVE-FAILED",
        TcpCheckStatus.LocalError => "LOCAL-ERROR",
        _ => status.ToString().ToUpperInvariant(),
    };

    internal static string StatusColor(TcpCheckStatus status) => status switch
    {
        TcpCheckStatus.Open => "green",
        TcpCheckStatus.Timeout => "yellow",
        TcpCheckStatus.LocalError => "fuchsia",
        _ => "red",
    };

    internal static string Milliseconds(TimeSpan elapsed) =>
        elapsed.TotalMilliseconds.ToString("0.000", CultureInfo.InvariantCulture) + " ms";

    internal static string Address(in TcpCheckResult result) => result.RemoteEndPoint?.ToString() ?? "-";

    /// <summary>What the status word alone does not say (the errno of an unreachable, a resolver error, a local failure).</summary>
    internal static string Detail(in TcpCheckResult result) =>
        result.Status is TcpCheckStatus.Unreachable or TcpCheckStatus.ResolveFailed or TcpCheckStatus.LocalError ? result.Describe() : string.Empty;

    /// <summary>The rows of the reports: one per address of each target, first cell the status.</summary>
    internal static List<(TcpCheckStatus Status, string[] Cells)> Rows(IEnumerable<TargetReport> reports)
    {
        var rows = new List<(TcpCheckStatus, string[])>();
        foreach (TargetReport report in reports)
        {
            foreach (TcpCheckResult result in report.Results)
            {
                rows.Add((result.Status, [StatusWord(result.Status), report.Target.ToString(), Address(result), Milliseconds(result.Elapsed), Detail(result)]));
            }
        }

        return rows;
    }

    /// <summary>Writes rows under a header, columns aligned; on a terminal the status is coloured.</summary>
    internal static void Write(ToolConsole console, IReadOnlyList<(TcpCheckStatus Status, string[] Cells)> rows, string? prefix = null, bool header = true)
    {
        int columns = Header.Length + 1;
        int[] widths = new int[columns];
        foreach (string[] cells in rows.Select(r => r.Cells).Prepend(Header))
        {
            for (int i = 0; i < cells.Length; i++)
            {
                widths[i] = Math.Max(widths[i], cells[i].Length);
            }
        }

        if (header)
        {
            WriteLine(console, prefix, null, Header, widths);
        }

        foreach ((TcpCheckStatus status, string[] cells) in rows)
        {
            WriteLine(console, prefix, status, cells, widths);
        }
    }

    private static void WriteLine(ToolConsole console, string? prefix, TcpCheckStatus? status, string[] cells, int[] widths)
    {
        var line = new StringBuilder(prefix is null ? string.Empty : Escape(console, prefix));
        for (int i = 0; i < cells.Length; i++)
        {
            bool last = i == cells.Length - 1 || cells[(i + 1)..].All(c => c.Length == 0);
            string cell = last ? cells[i] : cells[i].PadRight(widths[i] + 2);
            line.Append(i == 0 && status is { } s && console.IsTerminal ? $"[{StatusColor(s)}]{Markup.Escape(cell)}[/]" : Escape(console, cell));
            if (last)
            {
                break;
            }
        }

        if (console.IsTerminal)
        {
            console.Ansi.MarkupLine(line.ToString());
        }
        else
        {
            console.Out.WriteLine(line.ToString());
        }
    }

    private static string Escape(ToolConsole console, string text) => console.IsTerminal ? Markup.Escape(text) : text;
}
