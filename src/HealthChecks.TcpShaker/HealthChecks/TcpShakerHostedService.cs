using Microsoft.Extensions.Hosting;

namespace HealthChecks.TcpShaker.HealthChecks;

/// <summary>Starts the shared <see cref="TcpShaker"/> with the host and stops it (closing every socket) when the host stops.</summary>
internal sealed class TcpShakerHostedService(TcpShaker shaker) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => shaker.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => shaker.DisposeAsync().AsTask().WaitAsync(cancellationToken);
}
