using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Tool.Output;
using Spectre.Console;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// <c>tcp-shaker bench HOST:PORT -n 200000 -c 1000</c>: a bounded load run against one address with a
/// live progress bar (plain progress lines when redirected) and a summary: rate, outcomes, latency percentiles, mode.
/// </summary>
internal static class BenchCommand
{
    internal const int MaxChecks = 10_000_000;

    private const int Label = 16;

    internal static Command Create(ToolConsole console)
    {
        Argument<TcpEndpoint> target = CliSymbols.Target("The target, host:port; a host name is resolved once and its first address used.");
        DefaultedOption<int> count = CliSymbols.Integer("--requests", "How many checks to run in all", 10_000, 1, MaxChecks, "-n");
        DefaultedOption<int> concurrency = CliSymbols.Integer("--concurrency", "How many checks are in flight at once", 100, 1, 1_000_000, "-c");
        DefaultedOption<TimeSpan> timeout = CliSymbols.Timeout("How long each check may take");
        DefaultedOption<int> loops = CliSymbols.Integer("--loops", "Epoll loops (threads) checking in parallel", 1, 1, 64);
        Option<bool> fullConnect = CliSymbols.FullConnect();
        Option<bool> raw = CliSymbols.Raw();

        var command = new Command("bench", $"Load mode: run -n checks against one target, -c at a time, and summarize rate, outcomes and latency. Bounded by -n (at most {MaxChecks.ToString("N0", CultureInfo.InvariantCulture)}); Ctrl+C stops with a partial summary. Exit code 0: every check open; 1: any not; 130: interrupted.")
        {
            target, count, concurrency, timeout, loops, fullConnect, raw,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            TcpEndpoint endpoint = parse.GetRequiredValue(target);
            int checks = count.ValueIn(parse);
            int inFlight = Math.Min(concurrency.ValueIn(parse), checks);
            TimeSpan checkTimeout = timeout.ValueIn(parse);
            int loopCount = loops.ValueIn(parse);

            IPEndPoint? address = await ResolveAsync(console, endpoint, cancellationToken);
            if (address is null)
            {
                return ExitCodes.NotOpen;
            }

            await using var shaker = new TcpShaker(new TcpShakerOptions
            {
                ForceFullConnect = parse.GetValue(fullConnect),
                PreferRawSyn = parse.GetValue(raw),
                LoopCount = loopCount,
                MaxChecksInFlight = Math.Max(new TcpShakerOptions().MaxChecksInFlight, inFlight),
            });
            try
            {
                await shaker.StartAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }

            await RawModeNote.WriteIfUnavailableAsync(console, parse.GetValue(raw), shaker.Mode, shaker.ModeReason);

            string shown = endpoint.Address is null ? $"{endpoint} ({address})" : endpoint.ToString();
            await console.Out.WriteLineAsync(
                $"tcp-shaker bench: {shown}, mode {shaker.Mode}, {N(checks)} checks, concurrency {N(inFlight)}, timeout {Durations.Format(checkTimeout)}, {loopCount} loop{(loopCount == 1 ? string.Empty : "s")}");

            var run = new BenchRun(checks);
            Task running = run.RunAsync(shaker, address, inFlight, checkTimeout, cancellationToken);
            await (console.IsTerminal ? ShowProgressBarAsync(console, run, running) : ShowProgressLinesAsync(console, run, running));
            await running;

            bool interrupted = run.Completed < run.Count;
            await WriteSummaryAsync(console, run, shaker.Mode, interrupted);
            return interrupted ? ExitCodes.Interrupted
                : run.CountOf(TcpCheckStatus.Open) == run.Count ? ExitCodes.Open
                : ExitCodes.NotOpen;
        });

        return command;
    }

    private static async Task<IPEndPoint?> ResolveAsync(ToolConsole console, TcpEndpoint endpoint, CancellationToken cancellationToken)
    {
        if (endpoint.Address is { } literal)
        {
            return new IPEndPoint(literal, endpoint.Port);
        }

        try
        {
            IPAddress[] addresses = await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
            if (addresses.Length > 0)
            {
                return new IPEndPoint(addresses[0], endpoint.Port);
            }
        }
        catch (SocketException exception)
        {
            await console.Error.WriteLineAsync($"tcp-shaker bench: {endpoint.Host} could not be resolved ({exception.SocketErrorCode})");
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        await console.Error.WriteLineAsync($"tcp-shaker bench: {endpoint.Host} resolved to no address");
        return null;
    }

    private static async Task ShowProgressBarAsync(ToolConsole console, BenchRun run, Task running)
    {
        await console.Ansi.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                ProgressTask task = context.AddTask("checks", maxValue: run.Count);
                while (!running.IsCompleted)
                {
                    await Task.WhenAny(running, Task.Delay(100));
                    task.Value = run.Completed;
                    task.Description = $"{N(run.Completed)} checks, {N(Rate(run))}/s";
                }
            });
    }

    private static async Task ShowProgressLinesAsync(ToolConsole console, BenchRun run, Task running)
    {
        while (await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(1))) != running)
        {
            int done = run.Completed;
            await console.Out.WriteLineAsync(
                $"progress: {N(done)}/{N(run.Count)} ({(100.0 * done / run.Count).ToString("0.0", CultureInfo.InvariantCulture)}%), {N(Rate(run))} checks/s");
        }
    }

    private static async Task WriteSummaryAsync(ToolConsole console, BenchRun run, TcpShakerMode mode, bool interrupted)
    {
        TextWriter output = console.Out;
        (double p50, double p90, double p99, double max) = run.Percentiles();
        string seconds = run.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
        await output.WriteLineAsync($"{"checks",-Label}{N(run.Completed)} of {N(run.Count)} in {seconds} s{(interrupted ? " (interrupted: partial summary)" : string.Empty)}");
        await output.WriteLineAsync($"{"rate",-Label}{N(Rate(run))} checks/s");
        foreach (TcpCheckStatus status in Enum.GetValues<TcpCheckStatus>())
        {
            int n = run.CountOf(status);
            string share = run.Completed == 0 ? "-" : (100.0 * n / run.Completed).ToString("0.00", CultureInfo.InvariantCulture) + "%";
            await output.WriteLineAsync($"{ResultText.StatusWord(status).ToLowerInvariant(),-Label}{N(n),-12}{share}");
        }

        await output.WriteLineAsync(run.Completed == 0
            ? $"{"latency",-Label}- (no check completed)"
            : $"{"latency",-Label}p50 {Ms(p50)}  p90 {Ms(p90)}  p99 {Ms(p99)}  max {Ms(max)}");
        await output.WriteLineAsync($"{"mode",-Label}{mode}");
    }

    private static double Rate(BenchRun run) =>
        run.Elapsed > TimeSpan.Zero ? run.Completed / run.Elapsed.TotalSeconds : 0;

    private static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Ms(double value) => value.ToString("0.000", CultureInfo.InvariantCulture) + " ms";
}
