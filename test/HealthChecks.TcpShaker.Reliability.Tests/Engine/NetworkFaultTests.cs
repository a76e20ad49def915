using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine;

/// <summary>What the network can do to a check: drop it, reject it with ICMP, refuse it, run out of ports.</summary>
public sealed class NetworkFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_silent_target_times_out_at_the_deadline()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7001);
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });

        var result = await shaker.CheckAsync(target, Timeout, TestContext.Current.CancellationToken);

        TestContext.Current.TestOutputHelper?.WriteLine($"silent: {result.Describe()} (deadline {Timeout.TotalMilliseconds} ms)");
        Assert.Equal(TcpCheckStatus.Timeout, result.Status);
        Assert.Equal(TcpCheckErrorKind.None, result.ErrorKind); // the check's own deadline, not the kernel's
        Assert.Equal(0, result.ErrorCode);
        // Never before the deadline, and the loop wakes for it within its timer's precision plus
        // scheduling: 100 ms is many time slices.
        Assert.InRange(result.Elapsed, Timeout, Timeout + TimeSpan.FromMilliseconds(100));
        Assert.True(ns.IptablesPackets("INPUT", "DROP") >= 1, "the SYN reached the namespace and was dropped there");
        Assert.Contains("did not answer within", result.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Icmp_host_unreachable_is_Unreachable_well_before_the_deadline()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.RejectPort(7002);
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var deadline = TimeSpan.FromSeconds(5);

        var result = await shaker.CheckAsync(target, deadline, TestContext.Current.CancellationToken);

        TestContext.Current.TestOutputHelper?.WriteLine($"unreachable: {result.Describe()} after {result.Elapsed.TotalMilliseconds:0.###} ms (deadline {deadline.TotalMilliseconds} ms)");
        Assert.Equal(TcpCheckStatus.Unreachable, result.Status);
        Assert.Equal(Errno.EHOSTUNREACH, result.ErrorCode);
        // ICMP comes back within a round trip on a veth; half the 5 s deadline separates "answered
        // by the error" from "ran into the deadline" with seconds to spare.
        Assert.True(result.Elapsed < deadline / 2, $"answered after {result.Elapsed}, deadline {deadline}");
        Assert.Contains("EHOSTUNREACH", result.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_port_in_the_namespace_is_Refused()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        ns.AssertRoutedThroughVeth();

        var result = await shaker.CheckAsync(new IPEndPoint(ns.InsideAddress!, 7003), Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Refused, result.Status);
        Assert.Equal(Errno.ECONNREFUSED, result.ErrorCode);
    }

    [Fact]
    public async Task A_listener_in_the_namespace_is_Open_and_never_accepts_a_connection()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint target) = ns.ListenCountingSyns();
        using var _ = listener;
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });

        var result = await shaker.CheckAsync(target, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.False(listener.HasPendingConnection);
        Assert.Equal(0, ns.Counter("TcpPassiveOpens"));
        Assert.Equal(1, ns.Counter("TcpExtEmbryonicRsts"));
        Assert.Equal(1, ns.IptablesPackets("INPUT", "ACCEPT"));
    }

    [Fact]
    public async Task Localhost_is_judged_per_address_when_only_IPv4_listens()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        using var v4 = new LoopbackListener(IPAddress.Loopback);
        using var v6Closed = TryClosedPort(IPAddress.IPv6Loopback, v4.Port);
        Assert.SkipWhen(v6Closed is null, "::1 is not available, or the same port is taken on it");

        var results = await CheckBothLoopbacksAsync(shaker, v4.Port);

        Assert.Equal(TcpCheckStatus.Open, Assert.Single(results, r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetwork).Status);
        Assert.Equal(TcpCheckStatus.Refused, Assert.Single(results, r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetworkV6).Status);
        Assert.False(v4.HasPendingConnection);
    }

    [Fact]
    public async Task Localhost_is_judged_per_address_when_only_IPv6_listens()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        using var v6 = TryListener(IPAddress.IPv6Loopback);
        Assert.SkipWhen(v6 is null, "::1 is not available here");
        using var v4Closed = TryClosedPort(IPAddress.Loopback, v6!.Port);
        Assert.SkipWhen(v4Closed is null, "the same port is taken on 127.0.0.1");

        var results = await CheckBothLoopbacksAsync(shaker, v6.Port);
        var v4Only = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"localhost:{v6.Port}"), Timeout, AddressFamily.InterNetwork, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Open, Assert.Single(results, r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetworkV6).Status);
        Assert.Equal(TcpCheckStatus.Refused, Assert.Single(results, r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetwork).Status);
        Assert.Equal(TcpCheckStatus.Refused, Assert.Single(v4Only).Status);
        Assert.False(v6.HasPendingConnection);
    }

    /// <summary>
    /// One result per loopback address: through <c>localhost</c> when the resolver gives both 127.0.0.1 and ::1
    /// (many /etc/hosts files list only 127.0.0.1), else through the two literals.
    /// </summary>
    private static async Task<List<TcpCheckResult>> CheckBothLoopbacksAsync(TcpShaker shaker, int port)
    {
        var ct = TestContext.Current.CancellationToken;
        IPAddress[] localhost = await Dns.GetHostAddressesAsync("localhost", ct);
        bool both = localhost.Any(a => a.AddressFamily == AddressFamily.InterNetwork) && localhost.Any(a => a.AddressFamily == AddressFamily.InterNetworkV6);
        string[] targets = both ? [$"localhost:{port}"] : [$"127.0.0.1:{port}", $"[::1]:{port}"];
        var results = new List<TcpCheckResult>();
        foreach (string target in targets)
        {
            results.AddRange(await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse(target), Timeout, null, ct));
        }

        return results;
    }

    [Fact]
    public async Task Ephemeral_ports_exhausted_is_LocalError_EADDRNOTAVAIL_and_recovers()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: false);
        using var listener = ns.RunInside(() => new LoopbackListener(IPAddress.Loopback));
        // Two ephemeral ports in all (after the listener took its own from the default range).
        string rootRange = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
        ns.Exec("sh", "-c", "echo '40000 40001' > /proc/sys/net/ipv4/ip_local_port_range");
        Assert.Equal("40000\t40001", ns.Exec("cat", "/proc/sys/net/ipv4/ip_local_port_range").Trim());
        Assert.Equal(rootRange, File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range")); // the machine's own range is untouched
        // Hold both ephemeral ports with established connections to the one destination checked.
        var holders = ns.RunInside(() =>
        {
            var held = new List<Socket>();
            for (int i = 0; i < 2; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { LingerState = new LingerOption(true, 0) };
                socket.Connect(listener.EndPoint);
                held.Add(socket);
            }

            return held;
        });
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        await ns.JoinLoopsAsync(shaker); // the loop thread now makes its sockets inside the namespace
        var ct = TestContext.Current.CancellationToken;

        var exhausted = await shaker.CheckAsync(listener.EndPoint, Timeout, ct);
        var again = await shaker.CheckAsync(listener.EndPoint, Timeout, ct);
        foreach (Socket holder in holders)
        {
            holder.Dispose(); // linger 0: RST, no TIME_WAIT, the port is free at once
        }

        listener.DrainAcceptQueue();
        var recovered = await shaker.CheckAsync(listener.EndPoint, Timeout, ct);

        TestContext.Current.TestOutputHelper?.WriteLine($"ports exhausted: {exhausted.Describe()}; after release: {recovered.Describe()}");
        Assert.Equal(TcpCheckStatus.LocalError, exhausted.Status);
        Assert.Equal(Errno.EADDRNOTAVAIL, exhausted.ErrorCode);
        Assert.Contains("no local ephemeral port is free (EADDRNOTAVAIL)", exhausted.Describe(), StringComparison.Ordinal);
        Assert.Equal(TcpCheckStatus.LocalError, again.Status);
        Assert.Equal(TcpCheckStatus.Open, recovered.Status);
        Assert.False(listener.HasPendingConnection);
    }

    private static LoopbackListener? TryListener(IPAddress address)
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

    private static Socket? TryClosedPort(IPAddress address, int port)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            socket.Bind(new IPEndPoint(address, port)); // bound, not listening: SYNs get RST, and nobody else takes the port
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }
}
