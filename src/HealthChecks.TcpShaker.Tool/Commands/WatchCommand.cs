using System.CommandLine;
using System.Globalization;
using HealthChecks.TcpShaker.Tool.Output;
using Spectre.Console;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// <c>tcp-shaker watch HOST:PORT... --interval 1s</c>: checks the targets every interval; a live table on
/// a terminal, plain lines per round when redirected; until Ctrl+C or <c>--count</c> rounds.
/// </summary>
internal static class WatchCommand
{
    internal static Command Create(ToolConsole console)
    {
        Argument<TcpEndpoint[]> targets = CliSymbols.Targets("Targets to watch, as host:port; a host name's every address is shown.");
        DefaultedOption<TimeSpan> interval = CliSymbols.Duration("--interval", "Time between the starts of two rounds", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), "at most an hour");
        DefaultedOption<TimeSpan> timeout = CliSymbols.Timeout("How long each target may take per round");
        DefaultedOption<int> count = CliSymbols.Integer("--count", "Stop after N rounds; 0 runs until Ctrl+C", 0, 0, int.MaxValue);
        Option<bool> allAddresses = CliSymbols.AllAddresses();
        Option<bool> fullConnect = CliSymbols.FullConnect();
        Option<bool> raw = CliSymbols.Raw();

        var command = new Command("watch", "Check targets every interval and show their status and handshake time until Ctrl+C (or --count rounds). Exit code: the last round's (0 all open, 1 any not).")
        {
            targets, interval, timeout, count, allAddresses, fullConnect, raw,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new WatchSettings(
                parse.GetRequiredValue(targets),
                interval.ValueIn(parse),
                timeout.ValueIn(parse),
                count.ValueIn(parse),
                parse.GetValue(allAddresses));

            await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = parse.GetValue(fullConnect), PreferRawSyn = parse.GetValue(raw) });
            try
            {
                await shaker.StartAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }

            await RawModeNote.WriteIfUnavailableAsync(console, parse.GetValue(raw), shaker.Mode);

            var history = new WatchHistory();

            if (console.IsTerminal)
            {
                int? exit = null;
                await console.Ansi.Live(history.Render(shaker.Mode, settings, 0))
                    .AutoClear(false)
                    .StartAsync(async context =>
                    {
                        exit = await RunRoundsAsync(shaker, settings, (round, reports) =>
                        {
                            history.Record(reports);
                            context.UpdateTarget(history.Render(shaker.Mode, settings, round));
                            context.Refresh();
                            return Task.CompletedTask;
                        }, cancellationToken);
                    });
                return exit ?? ExitCodes.Interrupted;
            }

            await console.Out.WriteLineAsync(
                $"tcp-shaker watch: mode {shaker.Mode}, interval {Durations.Format(settings.Interval)}, timeout {Durations.Format(settings.Timeout)}, {TargetChecks.Policy(settings.RequireAllAddresses)}");
            Func<int, TargetReport[], Task> show = async (round, reports) =>
            {
                int open = reports.Count(r => r.IsOpen);
                await console.Out.WriteLineAsync(
                    $"round {round.ToString(CultureInfo.InvariantCulture)} at {DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}: {open} of {reports.Length} targets open");
                ResultText.Write(console, ResultText.Rows(reports), prefix: "  ", header: false);
                await console.Out.FlushAsync(CancellationToken.None);
            };
            return await RunRoundsAsync(shaker, settings, show, cancellationToken);
        });

        return command;
    }

    /// <summary>Runs rounds until <see cref="WatchSettings.Count"/> or cancellation; returns the last round's exit code.</summary>
    private static async Task<int> RunRoundsAsync(TcpShaker shaker, WatchSettings settings, Func<int, TargetReport[], Task> show, CancellationToken cancellationToken)
    {
        int exit = ExitCodes.Interrupted;
        using var timer = new PeriodicTimer(settings.Interval);
        try
        {
            for (int round = 1; ; round++)
            {
                TargetReport[] reports = await TargetChecks.CheckAsync(shaker, settings.Targets, settings.Timeout, settings.RequireAllAddresses, cancellationToken);
                exit = TargetChecks.AllOpen(reports) ? ExitCodes.Open : ExitCodes.NotOpen;
                await show(round, reports);
                if (round == settings.Count || !await timer.WaitForNextTickAsync(cancellationToken))
                {
                    return exit;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return exit;
        }
    }
}

/// <summary>What <c>watch</c> was asked to do.</summary>
internal sealed record WatchSettings(TcpEndpoint[] Targets, TimeSpan Interval, TimeSpan Timeout, int Count, bool RequireAllAddresses);

/// <summary>Per address: the latest result, since when its status holds, and how many checks were open.</summary>
internal sealed class WatchHistory
{
    private readonly Dictionary<(string Target, string Address), Entry> _entries = [];
    private readonly List<(string Target, string Address)> _order = [];

    internal void Record(IEnumerable<TargetReport> reports)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        foreach (TargetReport report in reports)
        {
            foreach (TcpCheckResult result in report.Results)
            {
                var key = (report.Target.ToString(), ResultText.Address(result));
                if (!_entries.TryGetValue(key, out Entry? entry))
                {
                    entry = new Entry { Since = now, Last = result };
                    _entries[key] = entry;
                    _order.Add(key);
                }
                else if (entry.Last.Status != result.Status)
                {
                    entry.Since = now;
                }

                entry.Last = result;
                entry.Checks++;
                entry.Open += result.IsOpen ? 1 : 0;
            }
        }
    }

    internal Table Render(TcpShakerMode mode, WatchSettings settings, int round)
    {
        var table = new Table()
            .Title($"tcp-shaker watch: mode {mode}, round {round.ToString(CultureInfo.InvariantCulture)}, every {Durations.Format(settings.Interval)}")
            .Caption("Ctrl+C to stop")
            .AddColumns("TARGET", "ADDRESS", "STATUS", "TIME", "SINCE", "OPEN/CHECKS");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        foreach ((string target, string address) in _order)
        {
            Entry entry = _entries[(target, address)];
            TcpCheckStatus status = entry.Last.Status;
            table.AddRow(
                Markup.Escape(target),
                Markup.Escape(address),
                $"[{ResultText.StatusColor(status)}]{ResultText.StatusWord(status)}[/]",
                ResultText.Milliseconds(entry.Last.Elapsed),
                Durations.Format(TimeSpan.FromSeconds(Math.Floor((now - entry.Since).TotalSeconds))),
                $"{entry.Open.ToString(CultureInfo.InvariantCulture)}/{entry.Checks.ToString(CultureInfo.InvariantCulture)}");
        }

        return table;
    }

    private sealed class Entry
    {
        internal TcpCheckResult Last { get; set; }

        internal DateTimeOffset Since { get; set; }

        internal int Checks { get; set; }

        internal int Open { get; set; }
    }
}
