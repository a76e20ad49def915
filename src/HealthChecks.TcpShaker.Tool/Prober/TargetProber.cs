using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// One probe as the blackbox exporter's <c>prober: tcp</c> makes it, half-open: resolve the host
/// (preferred family, fallback to the other as <c>ip_protocol_fallback</c> says), judge the address
/// against the allow-list, check the one address chosen, all within the probe's timeout.
/// </summary>
internal sealed class TargetProber
{
    private readonly ProberEngines _engines;
    private readonly TargetAllowList _allowList;

    internal TargetProber(ProberEngines engines, TargetAllowList allowList)
    {
        _engines = engines;
        _allowList = allowList;
    }

    /// <summary>Probes <paramref name="target"/>; returns the outcome, or a refusal (the address is outside the allow-list) and no outcome.</summary>
    internal async Task<(ProbeOutcome Outcome, string? Refusal)> ProbeAsync(ProberModule module, TcpEndpoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        TcpShaker shaker = _engines.For(module.Mode);
        long start = Stopwatch.GetTimestamp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);

        IPAddress? address = await ResolveAsync(module, target, deadline.Token);
        TimeSpan dns = Stopwatch.GetElapsedTime(start);
        if (address is null)
        {
            TcpCheckStatus failed = deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested ? TcpCheckStatus.Timeout : TcpCheckStatus.ResolveFailed;
            return (new ProbeOutcome(failed, Stopwatch.GetElapsedTime(start), dns, null, TimeSpan.Zero, shaker.Mode), null);
        }

        if (_allowList.RefuseAddress(address) is { } refusal)
        {
            return (default, $"target {target} resolves to {refusal}");
        }

        TimeSpan remaining = timeout - dns;
        if (remaining <= TimeSpan.Zero)
        {
            return (new ProbeOutcome(TcpCheckStatus.Timeout, Stopwatch.GetElapsedTime(start), dns, address, TimeSpan.Zero, shaker.Mode), null);
        }

        TcpCheckResult result = await shaker.CheckAsync(new IPEndPoint(address, target.Port), remaining, cancellationToken);
        return (new ProbeOutcome(result.Status, Stopwatch.GetElapsedTime(start), dns, address, result.Elapsed, shaker.Mode), null);
    }

    /// <summary>The address to check, or null when the name has none usable (or resolving ran out of time).</summary>
    private static async Task<IPAddress?> ResolveAsync(ProberModule module, TcpEndpoint target, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        if (target.Address is { } literal)
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(target.Host, module.FallbackToOtherFamily ? AddressFamily.Unspecified : module.PreferredFamily, cancellationToken);
            }
            catch (Exception exception) when (exception is SocketException or OperationCanceledException or ArgumentException)
            {
                return null;
            }
        }

        IPAddress? preferred = Array.Find(addresses, a => Family(a) == module.PreferredFamily);
        return preferred ?? (module.FallbackToOtherFamily && addresses.Length > 0 ? addresses[0] : null);
    }

    private static AddressFamily Family(IPAddress address) => address.IsIPv4MappedToIPv6 ? AddressFamily.InterNetwork : address.AddressFamily;
}
