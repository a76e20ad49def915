using Microsoft.Extensions.Hosting;

namespace HealthChecks.TcpShaker.HealthCheck;

/// <summary>
/// Starts the watches of the watched health checks with the host, and stops the shared monitor (closing
/// every socket of its watches) when the host stops, before the engine's own hosted service stops the engine.
/// </summary>
internal sealed class TcpShakerWatchService(TcpShakerWatchedChecks checks, TcpShakerMonitor monitor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        checks.Start(monitor);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => monitor.DisposeAsync().AsTask().WaitAsync(cancellationToken);
}
