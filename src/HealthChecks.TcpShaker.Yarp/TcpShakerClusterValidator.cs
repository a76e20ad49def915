using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Configuration.ClusterValidators;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// Rejects a <c>TcpShaker</c> cluster whose settings or destination addresses cannot be watched, with one error per
/// problem naming the cluster and the key. YARP then fails the first load, or keeps its last good configuration on a reload.
/// </summary>
internal sealed class TcpShakerClusterValidator : IClusterValidator
{
    public ValueTask ValidateAsync(ClusterConfig cluster, IList<Exception> errors)
    {
        if (!ClusterSettings.AppliesTo(cluster))
        {
            return ValueTask.CompletedTask;
        }

        var problems = new List<string>();
        _ = ClusterSettings.Read(cluster, problems);
        foreach ((string id, DestinationConfig destination) in cluster.Destinations ?? new Dictionary<string, DestinationConfig>())
        {
            _ = ClusterSettings.CheckEndpoint(cluster.ClusterId, id, destination, problems);
        }

        foreach (string problem in problems)
        {
            errors.Add(new ArgumentException(problem));
        }

        return ValueTask.CompletedTask;
    }
}
