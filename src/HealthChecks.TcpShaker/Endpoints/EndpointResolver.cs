using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Engine;

namespace HealthChecks.TcpShaker.Endpoints;

/// <summary>Turns a <see cref="TcpEndpoint"/> into the addresses to check: every A and AAAA record, not just the first IPv4 one.</summary>
internal static class EndpointResolver
{
    internal static async Task<(IPAddress[] Addresses, TcpCheckResult? Failure)> ResolveAsync(
        TcpEndpoint endpoint, AddressFamily? family, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (family is not (null or AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "Only InterNetwork (IPv4) and InterNetworkV6 (IPv6) can be checked.");
        }

        if (endpoint.Address is { } literal)
        {
            return family is null || literal.AddressFamily == family
                ? ([literal], null)
                : ([], Failed(SocketError.AddressFamilyNotSupported, TimeSpan.Zero));
        }

        long started = Stopwatch.GetTimestamp();
        IPAddress[] addresses;
        try
        {
            // getaddrinfo cannot always be interrupted; the wait for it can.
            addresses = await Dns.GetHostAddressesAsync(endpoint.Host, family ?? AddressFamily.Unspecified, cancellationToken)
                .WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException exception)
        {
            return ([], Failed(exception.SocketErrorCode, Stopwatch.GetElapsedTime(started)));
        }
        catch (TimeoutException)
        {
            return ([], Failed(SocketError.TimedOut, Stopwatch.GetElapsedTime(started)));
        }

        addresses = addresses.Where(a => family is null || a.AddressFamily == family).Distinct().ToArray();
        return addresses.Length == 0
            ? ([], Failed(SocketError.HostNotFound, Stopwatch.GetElapsedTime(started)))
            : (addresses, null);
    }

    private static TcpCheckResult Failed(SocketError error, TimeSpan elapsed) => CheckErrors.ResolveFailed(error, elapsed);
}
