using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// <see cref="TcpShakerActiveHealthCheckMonitor"/> as YARP's <see cref="IActiveHealthCheckMonitor"/> and
/// <see cref="IClusterChangeListener"/>. Not disposable on purpose: the container disposes what each factory returns,
/// so registering the monitor itself under three services disposed it three times; it is disposed once, as itself.
/// </summary>
internal sealed class MonitorServiceForwarder(TcpShakerActiveHealthCheckMonitor monitor) : IActiveHealthCheckMonitor, IClusterChangeListener
{
    public bool InitialProbeCompleted => monitor.InitialProbeCompleted;

    public Task CheckHealthAsync(IEnumerable<ClusterState> clusters) => monitor.CheckHealthAsync(clusters);

    public void OnClusterAdded(ClusterState cluster) => monitor.OnClusterAdded(cluster);

    public void OnClusterChanged(ClusterState cluster) => monitor.OnClusterChanged(cluster);

    public void OnClusterRemoved(ClusterState cluster) => monitor.OnClusterRemoved(cluster);
}
