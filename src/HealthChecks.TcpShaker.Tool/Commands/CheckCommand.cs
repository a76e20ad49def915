using System.CommandLine;
using HealthChecks.TcpShaker.Tool.Output;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary><c>tcp-shaker check HOST:PORT...</c>: checks every target once, at the same time; exit 0 when all are open.</summary>
internal static class CheckCommand
{
    internal static Command Create(ToolConsole console)
    {
        Argument<TcpEndpoint[]> targets = CliSymbols.Targets("Targets to check, as host:port, 10.0.0.5:5432 or [::1]:6379. A host name is resolved and each of its addresses checked.");
        DefaultedOption<TimeSpan> timeout = CliSymbols.Timeout("How long each target may take, resolving included");
        Option<bool> allAddresses = CliSymbols.AllAddresses();
        Option<bool> fullConnect = CliSymbols.FullConnect();
        Option<bool> raw = CliSymbols.Raw();
        Option<bool> json = CliSymbols.Flag("--json", "Write one JSON document (mode, verdict, each address's status and time) instead of lines.");
        Option<bool> quiet = CliSymbols.Flag("--quiet", "Write nothing when every target is open; on failure write the usual output. For probes.", "-q");

        var command = new Command("check", "Check targets once, concurrently. Exit code 0: all open; 1: any not open; 2: bad usage.")
        {
            targets, timeout, allAddresses, fullConnect, raw, json, quiet,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            TcpEndpoint[] endpoints = parse.GetRequiredValue(targets);
            TimeSpan checkTimeout = timeout.ValueIn(parse);
            bool requireAll = parse.GetValue(allAddresses);

            bool forceFullConnect = parse.GetValue(fullConnect);
            bool preferRawSyn = parse.GetValue(raw);
            TcpShakerMode mode;
            TargetReport[] reports;
            string? problem = null;
            string? unverified = null;
            string? modeReason = null;
            try
            {
                (mode, reports, problem, unverified, modeReason) = forceFullConnect
                    ? await CheckFullConnectAsync(endpoints, checkTimeout, requireAll, cancellationToken)
                    : preferRawSyn
                        ? await CheckRawSynAsync(endpoints, checkTimeout, requireAll, cancellationToken)
                        : await CheckHalfOpenAsync(endpoints, checkTimeout, requireAll, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await console.Error.WriteLineAsync("tcp-shaker check: interrupted");
                return ExitCodes.Interrupted;
            }

            // Said even with -q: a probe's events should show that the servers saw connections.
            if (problem is not null)
            {
                await console.Error.WriteLineAsync($"tcp-shaker check: half-open did not hold, so the mode is FullConnect: {problem}");
            }
            else if (unverified is not null)
            {
                await console.Error.WriteLineAsync($"tcp-shaker check: half-open could not be verified: {unverified}");
            }

            await RawModeNote.WriteIfUnavailableAsync(console, preferRawSyn, mode, modeReason);
            bool ok = TargetChecks.AllOpen(reports);
            if (ok && parse.GetValue(quiet))
            {
                return ExitCodes.Open;
            }

            if (parse.GetValue(json))
            {
                await console.Out.WriteLineAsync(ResultJson.Write(mode, checkTimeout, requireAll, reports));
            }
            else
            {
                await console.Out.WriteLineAsync($"tcp-shaker check: mode {mode}, timeout {Durations.Format(checkTimeout)}, {TargetChecks.Policy(requireAll)}");
                ResultText.Write(console, ResultText.Rows(reports));
                int open = reports.Count(r => r.IsOpen);
                string verdict = ok
                    ? $"{open} of {reports.Length} targets open"
                    : $"{reports.Length - open} of {reports.Length} targets not open: {string.Join(", ", reports.Where(r => !r.IsOpen).Select(r => r.Target))}";
                await console.Out.WriteLineAsync(verdict);
            }

            return ok ? ExitCodes.Open : ExitCodes.NotOpen;
        });

        return command;
    }

    private static async Task<(TcpShakerMode, TargetReport[], string?, string?, string?)> CheckFullConnectAsync(
        TcpEndpoint[] endpoints, TimeSpan timeout, bool requireAll, CancellationToken cancellationToken)
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        TargetReport[] reports = await TargetChecks.CheckAsync(shaker, endpoints, timeout, requireAll, cancellationToken);
        return (shaker.Mode, reports, null, null, shaker.ModeReason);
    }

    /// <summary>Raw SYN mode where it may run: its own start-up verification proves it (a listener's accept queue stays empty).</summary>
    private static async Task<(TcpShakerMode, TargetReport[], string?, string?, string?)> CheckRawSynAsync(
        TcpEndpoint[] endpoints, TimeSpan timeout, bool requireAll, CancellationToken cancellationToken)
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
        await shaker.StartAsync(cancellationToken);
        TargetReport[] reports = await TargetChecks.CheckAsync(shaker, endpoints, timeout, requireAll, cancellationToken);
        return (shaker.Mode, reports, null, null, shaker.ModeReason);
    }

    /// <summary>
    /// Half-open checks verified as they run (<see cref="CheckVerification"/>) rather than after a
    /// start-up self-test, which would cost a one-shot process most of its run time.
    /// </summary>
    private static async Task<(TcpShakerMode, TargetReport[], string?, string?, string?)> CheckHalfOpenAsync(
        TcpEndpoint[] endpoints, TimeSpan timeout, bool requireAll, CancellationToken cancellationToken)
    {
        using CheckVerification verification = CheckVerification.Start();
        TargetReport[] reports;
        TcpCheckResult? privateCheck = null;
        TcpShakerMode mode;
        await using (var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false }))
        {
            Task<TcpCheckResult>? privateTask = verification.CheckPrivateListener(shaker, cancellationToken);
            reports = await TargetChecks.CheckAsync(shaker, endpoints, timeout, requireAll, cancellationToken);
            if (privateTask is not null)
            {
                privateCheck = await privateTask;
            }

            mode = shaker.Mode;
        }

        if (mode != TcpShakerMode.HalfOpen)
        {
            return (mode, reports, null, null, null); // not Linux: connect-and-abort, nothing to verify
        }

        string? problem = verification.Problem(privateCheck, out string? unverified);
        if (problem is null)
        {
            return (mode, reports, null, unverified, null);
        }

        if (privateCheck is { Status: TcpCheckStatus.LocalError, ErrorCode: CheckVerification.QuickAckRefused })
        {
            // No check could be made half-open: make them all again, connect-and-abort.
            (mode, reports, _, _, _) = await CheckFullConnectAsync(endpoints, timeout, requireAll, cancellationToken);
            return (mode, reports, problem, null, null);
        }

        // The checks were made, and their verdicts hold; they were connect-and-abort in effect.
        return (TcpShakerMode.FullConnect, reports, problem, null, null);
    }
}
