using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// One <c>TcpShaker</c> cluster's watches (one per destination) and its round: a timer that writes every destination's
/// current verdict to YARP once an interval, so a verdict written by anyone else, or one that changed without an event,
/// stands for one interval at most. Used under <see cref="TcpShakerActiveHealthCheckMonitor"/>'s lock.
/// </summary>
internal sealed class ClusterWatches : IDisposable
{
    private readonly Action<ClusterWatches> _onRound;
    private readonly ITimer _round;

    public ClusterWatches(ClusterState cluster, ClusterSettings settings, TimeProvider time, Action<ClusterWatches> onRound)
    {
        Cluster = cluster;
        Settings = settings;
        _onRound = onRound;
        _round = time.CreateTimer(static state => ((ClusterWatches)state!).OnRound(), this, settings.Interval, settings.Interval);
    }

    public ClusterState Cluster { get; }

    /// <summary>The settings the cluster's watches run with now.</summary>
    public ClusterSettings Settings { get; private set; }

    public Dictionary<DestinationState, DestinationWatch> Destinations { get; } = [];

    /// <summary>New settings: the round follows the new interval.</summary>
    public void Reschedule(ClusterSettings settings)
    {
        if (settings.Interval != Settings.Interval)
        {
            _round.Change(settings.Interval, settings.Interval);
        }

        Settings = settings;
    }

    /// <summary>Stops the round (the watches are the caller's to stop).</summary>
    public void Dispose() => _round.Dispose();

    private void OnRound() => _onRound(this);
}
