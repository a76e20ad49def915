using Yarp.ReverseProxy.Health;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// The <see cref="IDestinationHealthUpdater"/> registered before <c>AddTcpShakerHealthChecks</c> (YARP's), kept as the one
/// <see cref="TcpShakerActiveHealthCheckMonitor"/> writes through; every other service gets it through
/// <see cref="FilteredDestinationHealthUpdater"/>. Disposes it when it built it (the container would have).
/// </summary>
internal sealed class UnfilteredDestinationHealthUpdater(IDestinationHealthUpdater updater, bool owned) : IDisposable
{
    public IDestinationHealthUpdater Updater { get; } = updater;

    public void Dispose()
    {
        if (owned)
        {
            (Updater as IDisposable)?.Dispose();
        }
    }
}
