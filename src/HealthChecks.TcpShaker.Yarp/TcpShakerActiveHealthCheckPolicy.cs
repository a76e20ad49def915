using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// The <c>TcpShaker</c> name in YARP's registry of active policies, so YARP's validation accepts
/// <c>"Policy": "TcpShaker"</c>. YARP's HTTP prober never probes these clusters (see
/// <see cref="TcpShakerActiveHealthCheckMonitor"/>); should another monitor send it HTTP results anyway, they are
/// ignored on purpose: the half-open watches alone decide these destinations' active health.
/// </summary>
internal sealed class TcpShakerActiveHealthCheckPolicy : IActiveHealthCheckPolicy
{
    public string Name => TcpShakerYarp.PolicyName;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        // Deliberately empty: see the class remarks.
    }
}
