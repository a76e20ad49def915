using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tests.Engine.HalfOpen;

/// <summary>Half-open mode against real loopback sockets: what a check answers, and that the server never sees a connection.</summary>
public sealed class HalfOpenEngineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_open_port_is_open_and_the_server_never_sees_a_connection()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Half-open checking is Linux only.");
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        TcpCheckResult result = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(listener.EndPoint, result.RemoteEndPoint);
        Assert.Equal(0, result.ErrorCode);
        Assert.InRange(result.Elapsed, TimeSpan.Zero, Timeout);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_closed_port_is_refused()
    {
        await using var shaker = new TcpShaker();
        using var closed = new ClosedPort();

        TcpCheckResult result = await shaker.CheckAsync(closed.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.Refused, result.Status);
        Assert.Equal(111, result.ErrorCode); // ECONNREFUSED
        Assert.Equal($"{closed.EndPoint} refused the connection", result.Describe());
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_silent_target_times_out_at_the_deadline_as_a_result()
    {
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        var timeout = TimeSpan.FromMilliseconds(300);

        TcpCheckResult result = await shaker.CheckAsync(silent.EndPoint, timeout, Ct);

        Assert.Equal(TcpCheckStatus.Timeout, result.Status);
        // Never before the deadline; after it, within the loop's next wake-up plus scheduling:
        // 250 ms is a loop thread starved for most of a time slice several times over.
        Assert.InRange(result.Elapsed, timeout, timeout + TimeSpan.FromMilliseconds(250));
        Assert.Contains("did not answer within", result.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipv6_loopback_is_checked_half_open()
    {
        Assert.SkipUnless(Socket.OSSupportsIPv6, "IPv6 is not available.");
        using var listener = TryListen(IPAddress.IPv6Loopback);
        Assert.SkipWhen(listener is null, "::1 cannot be bound here.");
        using var closed = new ClosedPort(IPAddress.IPv6Loopback);
        await using var shaker = new TcpShaker();

        TcpCheckResult open = await shaker.CheckAsync($"[::1]:{listener.Port}", Timeout, Ct);
        TcpCheckResult refused = await shaker.CheckAsync(closed.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.Open, open.Status);
        Assert.Equal(IPAddress.IPv6Loopback, open.RemoteEndPoint!.Address);
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Localhost_resolves_to_every_address_and_any_open_one_makes_it_open()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener(IPAddress.Loopback); // IPv4 only
        IPAddress[] expected = await Dns.GetHostAddressesAsync("localhost", Ct);

        IReadOnlyList<TcpCheckResult> all = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"localhost:{listener.Port}"), Timeout, null, Ct);
        TcpCheckResult any = await shaker.CheckAsync($"localhost:{listener.Port}", Timeout, Ct);

        Assert.Equal(expected.Distinct().Count(), all.Count);
        Assert.Equal(TcpCheckStatus.Open, Assert.Single(all, r => r.RemoteEndPoint!.Address.Equals(IPAddress.Loopback)).Status);
        Assert.All(all.Where(r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetworkV6), r => Assert.NotEqual(TcpCheckStatus.Open, r.Status));
        Assert.Equal(TcpCheckStatus.Open, any.Status);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_family_filter_keeps_only_that_family()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        IReadOnlyList<TcpCheckResult> v4 = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"localhost:{listener.Port}"), Timeout, AddressFamily.InterNetwork, Ct);
        IReadOnlyList<TcpCheckResult> literalOtherFamily = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"127.0.0.1:{listener.Port}"), Timeout, AddressFamily.InterNetworkV6, Ct);

        Assert.All(v4, r => Assert.Equal(AddressFamily.InterNetwork, r.RemoteEndPoint!.AddressFamily));
        Assert.Equal(TcpCheckStatus.ResolveFailed, Assert.Single(literalOtherFamily).Status);
    }

    [Fact]
    public async Task A_thousand_concurrent_checks_all_answer_and_the_server_sees_none()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();

        TcpCheckResult[] results = await Task.WhenAll(Enumerable.Range(0, 1000)
            .Select(i => shaker.CheckAsync(i % 2 == 0 ? listener.EndPoint : closed.EndPoint, Timeout, Ct).AsTask()));

        Assert.Equal(500, results.Count(r => r.Status == TcpCheckStatus.Open));
        Assert.Equal(500, results.Count(r => r.Status == TcpCheckStatus.Refused));
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    private static LoopbackListener? TryListen(IPAddress address)
    {
        try
        {
            return new LoopbackListener(address);
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
