using System.Globalization;
using System.Net;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The networks and ports a prober may send SYNs to (<c>tcp_shaker.allow</c>); empty lists allow
/// everything. Ports are judged before resolving, addresses after: a name is judged by what it resolves
/// to, so a DNS record cannot point the prober outside the list.
/// </summary>
internal sealed class TargetAllowList
{
    private readonly IPNetwork[] _networks;
    private readonly (int Low, int High)[] _ports;

    internal TargetAllowList(IEnumerable<IPNetwork> networks, IEnumerable<(int Low, int High)> ports)
    {
        _networks = [.. networks];
        _ports = [.. ports];
    }

    /// <summary>Every target allowed.</summary>
    internal static TargetAllowList Everything { get; } = new([], []);

    /// <summary>Why <paramref name="port"/> is refused, or null when it is allowed.</summary>
    internal string? RefusePort(int port)
    {
        if (_ports.Length == 0 || Array.Exists(_ports, range => port >= range.Low && port <= range.High))
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture, $"port {port} is not in the prober's allow-list (tcp_shaker.allow.ports).");
    }

    /// <summary>Why <paramref name="address"/> is refused, or null when it is allowed.</summary>
    internal string? RefuseAddress(IPAddress address)
    {
        IPAddress plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (_networks.Length == 0 || Array.Exists(_networks, network => network.Contains(plain)))
        {
            return null;
        }

        return $"address {plain} is not in the prober's allow-list (tcp_shaker.allow.networks).";
    }
}
