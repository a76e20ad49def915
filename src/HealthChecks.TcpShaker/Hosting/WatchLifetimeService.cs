using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HealthChecks.TcpShaker.Hosting;

/// <summary>
/// Starts the watches of the watched health checks once the host has started, and stops the shared monitor
/// (closing every socket of its watches) when the host stops, before the engine's own hosted service stops the engine.
/// </summary>
/// <remarks>
/// Once started, not at this service's own start: a web app that watches its own port would otherwise check it
/// before the server listens, and (the first result deciding) report itself down for its first seconds. Without a
/// host lifetime (hosted services started by hand) the watches start at once.
/// </remarks>
internal sealed class WatchLifetimeService(WatchedCheckRegistry checks, TcpShakerMonitor monitor, IServiceProvider services) : IHostedService
{
    private CancellationTokenRegistration _started;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<IHostApplicationLifetime>() is { } lifetime)
        {
            _started = lifetime.ApplicationStarted.Register(static state => ((WatchLifetimeService)state!).StartWatches(), this);
        }
        else
        {
            StartWatches();
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _started.DisposeAsync().ConfigureAwait(false);
        await monitor.DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void StartWatches()
    {
        try
        {
            checks.Start(monitor);
        }
        catch (ObjectDisposedException)
        {
            // The host stopped before it had started: nothing to watch.
        }
    }
}
