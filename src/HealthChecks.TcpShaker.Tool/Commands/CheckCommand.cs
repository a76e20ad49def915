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

            await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = parse.GetValue(fullConnect), PreferRawSyn = parse.GetValue(raw) });
            TargetReport[] reports;
            try
            {
                reports = await TargetChecks.CheckAsync(shaker, endpoints, checkTimeout, requireAll, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await console.Error.WriteLineAsync("tcp-shaker check: interrupted");
                return ExitCodes.Interrupted;
            }

            await RawModeNote.WriteIfUnavailableAsync(console, parse.GetValue(raw), shaker.Mode);
            bool ok = TargetChecks.AllOpen(reports);
            if (ok && parse.GetValue(quiet))
            {
                return ExitCodes.Open;
            }

            if (parse.GetValue(json))
            {
                await console.Out.WriteLineAsync(ResultJson.Write(shaker.Mode, checkTimeout, requireAll, reports));
            }
            else
            {
                await console.Out.WriteLineAsync($"tcp-shaker check: mode {shaker.Mode}, timeout {Durations.Format(checkTimeout)}, {TargetChecks.Policy(requireAll)}");
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
}
