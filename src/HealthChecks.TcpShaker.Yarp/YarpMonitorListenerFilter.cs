using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// Stands in for YARP's monitor as a cluster listener so it never schedules HTTP probes of a <c>TcpShaker</c> cluster:
/// such a cluster is not passed on when added, and is unscheduled when a reload moves it to the policy. A cluster that
/// leaves the policy is passed on as changed, which YARP's monitor takes as "schedule it".
/// </summary>
internal sealed class YarpMonitorListenerFilter(IClusterChangeListener inner) : IClusterChangeListener
{
    public void OnClusterAdded(ClusterState cluster)
    {
        if (!ClusterSettings.AppliesTo(cluster.Model.Config))
        {
            inner.OnClusterAdded(cluster);
        }
    }

    public void OnClusterChanged(ClusterState cluster)
    {
        if (ClusterSettings.AppliesTo(cluster.Model.Config))
        {
            inner.OnClusterRemoved(cluster);
        }
        else
        {
            inner.OnClusterChanged(cluster);
        }
    }

    public void OnClusterRemoved(ClusterState cluster) => inner.OnClusterRemoved(cluster);
}
