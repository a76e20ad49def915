using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// A destination's watch, with the address and settings it was started with, and the verdict carried over from the
/// watch it replaced when a reload changed only the settings. Used under <see cref="TcpShakerActiveHealthCheckMonitor"/>'s lock.
/// </summary>
internal sealed class DestinationWatch(TcpWatch watch, TcpEndpoint endpoint, ClusterSettings settings)
{
    private DestinationHealth? _carried;
    private DateTimeOffset _carriedUntil;

    public TcpWatch Watch { get; } = watch;

    public TcpEndpoint Endpoint { get; } = endpoint;

    public ClusterSettings Settings { get; } = settings;

    /// <summary>YARP's name for a watch's health: Up is Healthy, Down is Unhealthy, anything else (no verdict, or one it cannot stand by) Unknown.</summary>
    public static DestinationHealth ToDestinationHealth(TcpTargetHealth health) => health switch
    {
        TcpTargetHealth.Up => DestinationHealth.Healthy,
        TcpTargetHealth.Down => DestinationHealth.Unhealthy,
        _ => DestinationHealth.Unknown,
    };

    /// <summary>
    /// Keeps <paramref name="verdict"/> (the replaced watch's, on the same address) while this watch has none of its own,
    /// until <paramref name="until"/> at the latest: a reload that changes only a setting does not make a known-down
    /// destination routable again.
    /// </summary>
    public void Carry(DestinationHealth verdict, DateTimeOffset until)
    {
        if (verdict != DestinationHealth.Unknown)
        {
            _carried = verdict;
            _carriedUntil = until;
        }
    }

    /// <summary>
    /// The verdict to write now: the watch's own once it has one (the carried one is then dropped for good), else the
    /// carried one until it expires, else <see cref="DestinationHealth.Unknown"/>.
    /// </summary>
    public DestinationHealth Verdict(DateTimeOffset now)
    {
        DestinationHealth own = ToDestinationHealth(Watch.Health);
        if (own != DestinationHealth.Unknown || _carried is not { } carried)
        {
            _carried = null;
            return own;
        }

        if (now < _carriedUntil)
        {
            return carried;
        }

        _carried = null;
        return DestinationHealth.Unknown;
    }
}
