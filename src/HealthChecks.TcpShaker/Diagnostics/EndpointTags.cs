using System.Collections.Concurrent;
using System.Net;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>
/// The <c>server.address</c> and <c>server.port</c> tag values of the first <see cref="Limit"/> endpoints
/// one engine checks, built once each. Later endpoints get no address tags, so a target list that churns
/// (pod IPs behind a headless service, a scan from the CLI) cannot grow the series without bound.
/// </summary>
internal sealed class EndpointTags
{
    /// <summary>The most distinct endpoints tagged per engine.</summary>
    internal const int Limit = 100;

    private readonly ConcurrentDictionary<IPEndPoint, (object Address, object Port)> _tags = new();

    internal bool TryGet(IPEndPoint endPoint, out object? address, out object? port)
    {
        if (_tags.TryGetValue(endPoint, out (object Address, object Port) known))
        {
            (address, port) = known;
            return true;
        }

        if (_tags.Count >= Limit)
        {
            (address, port) = (null, null);
            return false;
        }

        // Keyed by a copy: IPEndPoint is mutable and the caller's instance is not ours to keep.
        (address, port) = _tags.GetOrAdd(new IPEndPoint(endPoint.Address, endPoint.Port), static e => (e.Address.ToString(), e.Port));
        return true;
    }
}
