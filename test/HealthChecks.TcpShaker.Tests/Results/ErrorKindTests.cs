using System.Net;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Tests.Results;

/// <summary>Each kind of error code is told apart: an errno, a resolver error, a deadline, the in-flight limit.</summary>
public sealed class ErrorKindTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void A_real_EAGAIN_is_an_operating_system_error_not_the_in_flight_limit()
    {
        const int EAGAIN = 11;
        TcpCheckResult result = CheckErrors.FromErrno(new IPEndPoint(IPAddress.Loopback, 80), TimeSpan.Zero, EAGAIN);

        Assert.Equal(TcpCheckStatus.LocalError, result.Status);
        Assert.Equal(TcpCheckErrorKind.OperatingSystem, result.ErrorKind);
        Assert.Equal(EAGAIN, result.ErrorCode);
        Assert.DoesNotContain("in flight", result.Describe(), StringComparison.Ordinal);
        Assert.Contains("errno 11", result.Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_in_flight_limit_has_its_own_kind_and_no_error_number(bool forceFullConnect)
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { MaxChecksInFlight = 1, ForceFullConnect = forceFullConnect });
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();

        ValueTask<TcpCheckResult> held = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(300), Ct);
        TcpCheckResult refused = await shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(300), Ct);
        TcpCheckResult timedOut = await held;

        Assert.Equal(TcpCheckStatus.LocalError, refused.Status);
        Assert.Equal(TcpCheckErrorKind.InFlightLimit, refused.ErrorKind);
        Assert.Equal(0, refused.ErrorCode);
        Assert.Contains("MaxChecksInFlight", refused.Describe(), StringComparison.Ordinal);

        // The deadline is the check's own: no operating-system error, the same in both engines.
        Assert.Equal(TcpCheckStatus.Timeout, timedOut.Status);
        Assert.Equal(TcpCheckErrorKind.None, timedOut.ErrorKind);
        Assert.Equal(0, timedOut.ErrorCode);
    }

    [Fact]
    public async Task A_refused_port_carries_its_errno_and_a_failed_name_its_resolver_error()
    {
        await using var shaker = new TcpShaker();
        using var closed = new ClosedPort();

        TcpCheckResult refused = await shaker.CheckAsync(closed.EndPoint, TimeSpan.FromSeconds(2), Ct);
        IReadOnlyList<TcpCheckResult> unresolved = await shaker.CheckAllAddressesAsync(
            TcpEndpoint.Parse($"127.0.0.1:{closed.EndPoint.Port}"), TimeSpan.FromSeconds(2), System.Net.Sockets.AddressFamily.InterNetworkV6, Ct);

        Assert.Equal(TcpCheckErrorKind.OperatingSystem, refused.ErrorKind);
        Assert.Equal(111, refused.ErrorCode); // ECONNREFUSED
        TcpCheckResult failed = Assert.Single(unresolved);
        Assert.Equal(TcpCheckStatus.ResolveFailed, failed.Status);
        Assert.Equal(TcpCheckErrorKind.Resolver, failed.ErrorKind);
        Assert.Equal((int)System.Net.Sockets.SocketError.AddressFamilyNotSupported, failed.ErrorCode);
    }
}
