using System.CommandLine;
using System.Globalization;
using System.Threading.Channels;
using HealthChecks.TcpShaker.Tool.Output;
using Spectre.Console;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// <c>tcp-shaker watch HOST:PORT... --rise 2 --fall 3</c>: a <see cref="TcpShakerMonitor"/> with one
/// <see cref="TcpWatch"/> per target (HAProxy's rise/fall model and intervals); each change of health is
/// printed as it happens (a line, or a JSON object with <c>--json</c>); on a terminal a live table shows
/// every watch's health, since when, and its recent results. Until Ctrl+C or <c>--count</c> checks per target.
/// </summary>
internal static class WatchCommand
{
    /// <summary>Rise and fall accepted (<see cref="TcpWatchOptions.Rise"/>, <see cref="TcpWatchOptions.Fall"/>).</summary>
    private const int MaxStreak = 1000;

    internal static Command Create(ToolConsole console)
    {
        const string bounds = "TcpWatchOptions.MinInterval to MaxInterval";
        Argument<TcpEndpoint[]> targets = CliSymbols.Targets("Targets to watch, as host:port; a host name is re-resolved every check and judged over its addresses.");
        DefaultedOption<TimeSpan> interval = CliSymbols.Duration("--interval", "Between two checks of a target while it is up and nothing is pending (HAProxy inter)", TimeSpan.FromSeconds(1), TcpWatchOptions.MinInterval, TcpWatchOptions.MaxInterval, bounds);
        DefaultedOption<TimeSpan?> fastInterval = CliSymbols.OptionalDuration("--fast-interval", "Between two checks while a change is pending: no verdict yet, an up target's first failures, a down target's first successes (HAProxy fastinter)", "--interval", TcpWatchOptions.MinInterval, TcpWatchOptions.MaxInterval, bounds);
        DefaultedOption<TimeSpan?> downInterval = CliSymbols.OptionalDuration("--down-interval", "Between two checks while a target is down (HAProxy downinter)", "--interval", TcpWatchOptions.MinInterval, TcpWatchOptions.MaxInterval, bounds);
        DefaultedOption<int> rise = CliSymbols.Integer("--rise", "Successful checks in a row that make a target up", 2, 1, MaxStreak);
        DefaultedOption<int> fall = CliSymbols.Integer("--fall", "Failed checks in a row that make a target down", 3, 1, MaxStreak);
        DefaultedOption<double> jitter = CliSymbols.Fraction("--jitter", "Each check fires up to this fraction of its interval late, at random, to spread the checks", 0, 0, 0.5, "a fraction of the interval");
        DefaultedOption<TimeSpan> timeout = CliSymbols.Timeout("How long one check may take, resolving included");
        DefaultedOption<int> count = CliSymbols.Integer("--count", "Stop once every target has been checked N times; 0 runs until Ctrl+C", 0, 0, int.MaxValue);
        Option<bool> json = CliSymbols.Flag("--json", "Write each change of health as one JSON object per line (for scripts), and nothing else.");
        Option<bool> allAddresses = CliSymbols.AllAddresses();
        Option<bool> fullConnect = CliSymbols.FullConnect();
        Option<bool> raw = CliSymbols.Raw();

        var command = new Command("watch", "Watch targets as a load balancer does: up after --rise successes in a row, down after --fall failures; print each change of health as it happens, until Ctrl+C (or --count checks per target). Exit code: 0 when every target is up at the end, 1 when any is down or has no verdict yet.")
        {
            targets, interval, fastInterval, downInterval, rise, fall, jitter, timeout, count, json, allAddresses, fullConnect, raw,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new TcpWatchOptions
            {
                Interval = interval.ValueIn(parse),
                FastInterval = fastInterval.ValueIn(parse),
                DownInterval = downInterval.ValueIn(parse),
                Rise = rise.ValueIn(parse),
                Fall = fall.ValueIn(parse),
                Jitter = jitter.ValueIn(parse),
                Timeout = timeout.ValueIn(parse),
                RequireAllAddresses = parse.GetValue(allAddresses),
            };
            var settings = new WatchSettings(parse.GetRequiredValue(targets), options, count.ValueIn(parse), parse.GetValue(json));

            await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = parse.GetValue(fullConnect), PreferRawSyn = parse.GetValue(raw) });
            try
            {
                await shaker.StartAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }

            await RawModeNote.WriteIfUnavailableAsync(console, parse.GetValue(raw), shaker.Mode, shaker.ModeReason);

            TcpShakerMonitor monitor;
            try
            {
                monitor = new TcpShakerMonitor(shaker, options);
            }
            catch (ArgumentException exception)
            {
                // The options above are range-checked already; this catches a rule only the monitor knows.
                await console.Error.WriteLineAsync($"tcp-shaker watch: {exception.Message}");
                return ExitCodes.Usage;
            }

            await using (monitor)
            {
                return await new WatchSession(console, shaker.Mode, settings, monitor).RunAsync(cancellationToken);
            }
        });

        return command;
    }
}

/// <summary>What <c>watch</c> was asked to do.</summary>
internal sealed record WatchSettings(TcpEndpoint[] Targets, TcpWatchOptions Options, int Count, bool Json)
{
    /// <summary>The shortest of the intervals: how often the display looks at the watches (a fifth of it, 5 ms to 200 ms).</summary>
    internal TimeSpan Refresh
    {
        get
        {
            TimeSpan shortest = new[] { Options.Interval, Options.FastInterval ?? Options.Interval, Options.DownInterval ?? Options.Interval }.Min();
            return TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 5, TimeSpan.TicksPerMillisecond * 5, TimeSpan.TicksPerMillisecond * 200));
        }
    }

    /// <summary>The settings in one line: "interval 1s, rise 2, fall 3, timeout 1s".</summary>
    internal string Describe()
    {
        var parts = new List<string> { $"interval {Durations.Format(Options.Interval)}" };
        if (Options.FastInterval is { } fast)
        {
            parts.Add($"fast-interval {Durations.Format(fast)}");
        }

        if (Options.DownInterval is { } down)
        {
            parts.Add($"down-interval {Durations.Format(down)}");
        }

        parts.Add($"rise {Options.Rise.ToString(CultureInfo.InvariantCulture)}");
        parts.Add($"fall {Options.Fall.ToString(CultureInfo.InvariantCulture)}");
        if (Options.Jitter > 0)
        {
            parts.Add($"jitter {Options.Jitter.ToString(CultureInfo.InvariantCulture)}");
        }

        parts.Add($"timeout {Durations.Format(Options.Timeout)}");
        return string.Join(", ", parts);
    }
}

/// <summary>One run of <c>watch</c>: the watches, the changes of health they report, and the output.</summary>
internal sealed class WatchSession
{
    /// <summary>How long to wait at the end for the monitor to raise the changes its watches have made.</summary>
    private static readonly TimeSpan EventGrace = TimeSpan.FromSeconds(2);

    private readonly ToolConsole _console;
    private readonly TcpShakerMode _mode;
    private readonly WatchSettings _settings;
    private readonly TcpShakerMonitor _monitor;
    private readonly Channel<TcpHealthChange> _changes = Channel.CreateUnbounded<TcpHealthChange>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<TcpWatch, TcpHealthChange> _lastShown = [];
    private readonly List<TcpHealthChange> _recent = [];

    internal WatchSession(ToolConsole console, TcpShakerMode mode, WatchSettings settings, TcpShakerMonitor monitor)
    {
        _console = console;
        _mode = mode;
        _settings = settings;
        _monitor = monitor;
    }

    /// <summary>Watches until the count is reached or cancellation; returns the exit code from the watches' health.</summary>
    internal async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        _monitor.HealthChanged += (_, change) => _changes.Writer.TryWrite(change);
        TcpWatch[] watches = [.. _settings.Targets.Select(target => _monitor.Watch(target))];

        if (_console.IsTerminal && !_settings.Json)
        {
            await _console.Ansi.Live(WatchView.Render(_mode, _settings, watches, _recent))
                .AutoClear(false)
                .StartAsync(async context =>
                {
                    await LoopAsync(watches, () =>
                    {
                        context.UpdateTarget(WatchView.Render(_mode, _settings, watches, _recent));
                        context.Refresh();
                        return Task.CompletedTask;
                    }, cancellationToken);
                });
        }
        else
        {
            if (!_settings.Json)
            {
                await _console.Out.WriteLineAsync($"tcp-shaker watch: mode {_mode}, {_settings.Describe()}, {TargetChecks.Policy(_settings.Options.RequireAllAddresses)}");
                await _console.Out.FlushAsync(CancellationToken.None);
            }

            await LoopAsync(watches, () => Task.CompletedTask, cancellationToken);
            if (!_settings.Json)
            {
                WatchView.WriteSummary(_console, watches);
            }
        }

        if (watches.All(w => w.Checks == 0))
        {
            return ExitCodes.Interrupted;
        }

        return watches.All(w => w.Health == TcpTargetHealth.Up) ? ExitCodes.Open : ExitCodes.NotOpen;
    }

    private async Task LoopAsync(TcpWatch[] watches, Func<Task> redraw, CancellationToken cancellationToken)
    {
        TimeSpan refresh = _settings.Refresh;
        Task<bool>? changed = null;
        try
        {
            while (_settings.Count == 0 || watches.Any(w => w.Checks < _settings.Count))
            {
                await ShowChangesAsync();
                await redraw();

                // Wake up for a change of health at once, else every refresh (the table's SINCE column moves, --count is looked at).
                changed ??= _changes.Reader.WaitToReadAsync(cancellationToken).AsTask();
                if (await Task.WhenAny(changed, Task.Delay(refresh, cancellationToken)) == changed)
                {
                    changed = null;
                }

                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: show what the watches concluded so far.
        }

        // The monitor raises events on a thread of its own, a moment after the check that made them:
        // wait (briefly) for the last change each watch recorded, so none is missing from the output.
        using var grace = new CancellationTokenSource(EventGrace);
        await ShowChangesAsync();
        while (watches.Any(w => w.RecentChanges is [.., var last] && !ReferenceEquals(_lastShown.GetValueOrDefault(w), last)))
        {
            try
            {
                await _changes.Reader.WaitToReadAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            await ShowChangesAsync();
        }

        await redraw();
    }

    private async Task ShowChangesAsync()
    {
        while (_changes.Reader.TryRead(out TcpHealthChange? change))
        {
            _lastShown[change.Watch] = change; // events come in order per watch
            if (_console.IsTerminal && !_settings.Json)
            {
                _recent.Add(change);
                if (_recent.Count > WatchView.ChangesShown)
                {
                    _recent.RemoveAt(0);
                }

                continue;
            }

            await _console.Out.WriteLineAsync(_settings.Json ? WatchView.ChangeJson(_mode, change) : WatchView.ChangeLine(change));
            await _console.Out.FlushAsync(CancellationToken.None);
        }
    }
}
