using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// One <c>prober: tcp</c> module of the blackbox exporter's modules file, as <c>serve</c> runs it:
/// what <c>/probe?module=NAME</c> checks with.
/// </summary>
/// <param name="Name">The module's name (the <c>module</c> URL parameter).</param>
/// <param name="Timeout">The module's <c>timeout</c>; null when it has none (the scrape's timeout then bounds the probe).</param>
/// <param name="PreferredFamily"><c>tcp.preferred_ip_protocol</c>: ip6 (the blackbox exporter's default) or ip4.</param>
/// <param name="FallbackToOtherFamily"><c>tcp.ip_protocol_fallback</c>: use the other family when the name has no address of the preferred one (default true).</param>
/// <param name="Mode"><c>tcp_shaker.mode</c>: how the check is made (half-open by default).</param>
internal sealed record ProberModule(string Name, TimeSpan? Timeout, AddressFamily PreferredFamily, bool FallbackToOtherFamily, TcpShakerMode Mode)
{
    /// <summary>The module a <c>/probe</c> without <c>module=</c> uses, and the one a blackbox user's scrape configuration names.</summary>
    internal const string DefaultName = "tcp_connect";

    /// <summary>The built-in <c>tcp_connect</c>: half-open, ip6 preferred with fallback, bounded by the scrape's timeout.</summary>
    internal static ProberModule Default { get; } = new(DefaultName, null, AddressFamily.InterNetworkV6, true, TcpShakerMode.HalfOpen);

    /// <summary>A mode as the <c>mode</c> label and the configuration write it.</summary>
    internal static string ModeLabel(TcpShakerMode mode) => mode switch
    {
        TcpShakerMode.RawSyn => "raw_syn",
        TcpShakerMode.FullConnect => "full_connect",
        _ => "half_open",
    };
}
