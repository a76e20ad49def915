using System.Net;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>One run of <c>serve</c>: starts the engines, the watches and the server, and takes them down in reverse order.</summary>
internal sealed class ServeSession
{
    private readonly ToolConsole _console;
    private readonly IPEndPoint _listen;
    private readonly ProberConfig _config;
    private readonly string? _targetsPath;

    internal ServeSession(ToolConsole console, IPEndPoint listen, ProberConfig config, string? targetsPath)
    {
        _console = console;
        _listen = listen;
        _config = config;
        _targetsPath = targetsPath;
    }

    /// <summary>Serves until <paramref name="cancellationToken"/> is cancelled; returns the exit code.</summary>
    internal async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        IEnumerable<TcpShakerMode> modes = _config.Modules.Values.Select(module => module.Mode);
        if (_targetsPath is not null)
        {
            modes = modes.Append(_config.WatchModule.Mode);
        }

        ProberEngines engines;
        try
        {
            engines = await ProberEngines.StartAsync(modes, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }

        await using (engines)
        {
            foreach (string note in engines.Notes)
            {
                await _console.Error.WriteLineAsync($"tcp-shaker serve: {note}");
            }

            TcpShakerMonitor? monitor = _targetsPath is null ? null : new TcpShakerMonitor(engines.For(_config.WatchModule.Mode), _config.Watch);
            await using (monitor)
            {
                using TargetWatches? watches = monitor is null ? null : new TargetWatches(_targetsPath!, monitor, _config.Watch, _config.AllowList, TextWriter.Synchronized(_console.Error), TimeProvider.System);
                try
                {
                    watches?.Start();
                }
                catch (ProberConfigException exception)
                {
                    await _console.Error.WriteLineAsync($"tcp-shaker serve: --targets {exception.Message}");
                    return ExitCodes.Usage;
                }

                var counters = new ProberCounters();
                await using ProberServer server = ProberServer.Create(_listen, new ProbeEndpoint(_config, new TargetProber(engines, _config.AllowList), counters), new MetricsEndpoint(counters, watches));
                try
                {
                    await server.StartAsync(cancellationToken);
                }
                catch (IOException exception)
                {
                    await _console.Error.WriteLineAsync($"tcp-shaker serve: --listen {_listen}: {exception.Message}");
                    return ExitCodes.Usage;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return ExitCodes.Interrupted;
                }

                string modules = string.Join(", ", _config.Modules.Values.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m => $"{m.Name} ({ProberModule.ModeLabel(engines.For(m.Mode).Mode)})"));
                string watching = watches is null ? string.Empty : $", watching {watches.Entries.Count} targets of {_targetsPath}";
                await _console.Out.WriteLineAsync($"tcp-shaker serve: listening on {server.Address}; modules {modules}{watching}");
                await _console.Out.FlushAsync(CancellationToken.None);
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl+C or SIGTERM: stop listening, then the watches and engines (the usings).
                }

                await server.StopAsync();
                return ExitCodes.Open;
            }
        }
    }
}
