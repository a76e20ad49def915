using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// YARP's <see cref="IDestinationHealthUpdater"/> as everyone but <see cref="TcpShakerActiveHealthCheckMonitor"/> sees it:
/// an active verdict for a cluster the half-open watches own is dropped, everything else passes unchanged. It stops an
/// HTTP round that started before a reload moved its cluster into the <c>TcpShaker</c> policy (YARP's monitor captures
/// the policy when a round starts and calls it when the round ends) from overwriting the watches' verdict.
/// </summary>
/// <remarks>
/// The monitor is looked up at the first write, not taken in the constructor: YARP's monitor, which the decorator is
/// built around, needs the policies, and they need this updater.
/// </remarks>
internal sealed class FilteredDestinationHealthUpdater(IDestinationHealthUpdater inner, Lazy<TcpShakerActiveHealthCheckMonitor> monitor) : IDestinationHealthUpdater
{
    public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates) =>
        monitor.Value.SetActiveUnlessWatched(cluster, newHealthStates);

    public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod) =>
        inner.SetPassive(cluster, destination, newHealth, reactivationPeriod);
}
