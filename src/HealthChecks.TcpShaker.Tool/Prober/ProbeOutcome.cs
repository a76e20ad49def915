using System.Net;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>What one <c>/probe</c> found, in the blackbox exporter's terms and this project's.</summary>
/// <param name="Status">The check's status; <see cref="TcpCheckStatus.ResolveFailed"/> when the name gave no usable address.</param>
/// <param name="Duration">The whole probe: resolving and checking.</param>
/// <param name="DnsLookup">Resolving the name (zero for an address).</param>
/// <param name="Address">The address checked; null when resolving failed.</param>
/// <param name="Handshake">The check itself (SYN to SYN-ACK, RST or timeout).</param>
/// <param name="Mode">The mode the check ran in.</param>
internal readonly record struct ProbeOutcome(TcpCheckStatus Status, TimeSpan Duration, TimeSpan DnsLookup, IPAddress? Address, TimeSpan Handshake, TcpShakerMode Mode)
{
    /// <summary>The statuses in the order <c>tcpshaker_probe_status</c> lists them, with their label values.</summary>
    internal static readonly (TcpCheckStatus Status, string Label)[] StatusLabels =
    [
        (TcpCheckStatus.Open, "open"),
        (TcpCheckStatus.Refused, "refused"),
        (TcpCheckStatus.Timeout, "timeout"),
        (TcpCheckStatus.Unreachable, "unreachable"),
        (TcpCheckStatus.ResolveFailed, "resolve_failed"),
        (TcpCheckStatus.LocalError, "local_error"),
    ];

    /// <summary><c>probe_success</c>: the port answered SYN-ACK.</summary>
    internal bool Success => Status == TcpCheckStatus.Open;

    /// <summary><c>probe_ip_protocol</c>: 4, 6, or 0 when no address was chosen.</summary>
    internal int IPProtocol => Address is null ? 0 : Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 4 : 6;

    /// <summary>
    /// <c>probe_ip_addr_hash</c> exactly as the blackbox exporter computes it: FNV-1a (32 bits) over the
    /// address's bytes, 4 for IPv4 (an IPv4-mapped IPv6 address included, as Go's To4 does), 16 for IPv6.
    /// </summary>
    internal double IPAddressHash
    {
        get
        {
            if (Address is null)
            {
                return 0;
            }

            IPAddress address = Address.IsIPv4MappedToIPv6 ? Address.MapToIPv4() : Address;
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out int length);
            uint hash = 2166136261;
            foreach (byte b in bytes[..length])
            {
                hash ^= b;
                hash *= 16777619;
            }

            return hash;
        }
    }

    /// <summary>A status as <c>tcpshaker_probe_status</c>'s label spells it.</summary>
    internal static string Label(TcpCheckStatus status) => Array.Find(StatusLabels, pair => pair.Status == status).Label ?? "local_error";
}
