using System.Net;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.RawSyn;

/// <summary>
/// Raw SYN mode past its reserved ports: with the fd limit at <see cref="FdLimit"/>, the pool cannot
/// reserve a port per check, and checks of loopback destinations go out from 127.0.0.2, .3 and so on.
/// The scenario runs in a child process started under <c>prlimit</c> (this test assembly, one test,
/// <see cref="ChildVariable"/> set), so the small fd limit touches nothing else, inside a network
/// namespace of its own, so no other raw engine's replies reach its sockets (it asserts that every reply
/// found its check).
/// </summary>
public sealed class RawSynSourceLaneTests
{
    private const string ChildVariable = "TCPSHAKER_LANE_CHILD";
    private const int FdLimit = 600;
    private const int Silent = 1_500;

    [Fact]
    public void Loopback_checks_beyond_the_reserved_ports_go_out_from_more_loopback_addresses() =>
        RunChild(nameof(Child_loopback_checks_beyond_the_reserved_ports_go_out_from_more_loopback_addresses));

    private static void RunChild(string test)
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        string? prlimit = Sh.Which("prlimit");
        Assert.SkipWhen(prlimit is null, "'prlimit' (util-linux) is not installed");
        using var ns = NetNamespace.Create();
        string[] child = ChildTest.Command(typeof(RawSynSourceLaneTests), test, ChildVariable, "1");
        ChildTest.AssertPassed(ns.TryExec(TimeSpan.FromMinutes(2), prlimit!, [$"--nofile={FdLimit}", .. child]));
    }

    [Fact]
    public async Task Child_loopback_checks_beyond_the_reserved_ports_go_out_from_more_loopback_addresses()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable(ChildVariable) == "1", "runs only in a child process, started by the test of the same name");
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
        var ct = TestContext.Current.CancellationToken;
        await shaker.StartAsync(ct);
        Assert.Equal(TcpShakerMode.RawSyn, shaker.Mode);
        var loop = ((RawSynEngine)shaker.Engine!).Transport;
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener(IPAddress.Loopback);

        // Far more silent checks than the fd limit lets the pool reserve ports for: all in flight at once.
        var held = Enumerable.Range(0, Silent).Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(3), ct).AsTask()).ToArray();
        await Task.Delay(500, ct);
        (int ports, int lanes) = await OnLoop(loop, l => (l.ReservedPorts.Count, l.SourceLanes));
        TestContext.Current.TestOutputHelper?.WriteLine($"{Silent} in flight: {ports} ports reserved, {lanes} address lanes");
        Assert.True(ports < Silent / 2, $"{ports} ports reserved: the fd limit did not cap the pool, so the lanes are not tested");
        Assert.InRange(lanes, (Silent / ports) + 1, SourcePortPool.MaxLoopbackLanes + 1);

        // While the silent ones hold every port of lane 0, an open listener is still checked, from a lane, and sees nothing.
        var open = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct).AsTask()));
        Assert.All(open, r => Assert.True(r.Status == TcpCheckStatus.Open, r.Describe()));

        var timedOut = await Task.WhenAll(held);
        Assert.All(timedOut, r => Assert.True(r.Status == TcpCheckStatus.Timeout, r.Describe()));
        await Task.Delay(50, ct);
        Assert.False(listener.HasPendingConnection);
        Assert.Equal(0, await OnLoop(loop, l => l.UnmatchedReplies));
    }

    /// <summary>
    /// Issue 17: a loopback lane added while the check that added it still went out from lane 0 left the
    /// reply index one lane long; the kernel's own RST to 127.0.0.2 (after the SYN-ACK of a listener checked
    /// there) then indexed past it and killed the loop. In a namespace whose ephemeral range is 100 ports,
    /// 60 silent checks of one destination make the pool add a lane; the listener on 127.0.0.2 sits inside
    /// the range, so its port is within the reply filter's span.
    /// </summary>
    [Fact]
    public async Task A_reply_to_127_0_0_2_while_lanes_grow_leaves_the_loop_running_and_every_check_right()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        string? sysctl = Sh.Which("sysctl");
        Assert.SkipWhen(sysctl is null, "'sysctl' (procps) is not installed");
        using var ns = NetNamespace.Create();
        ns.Exec(sysctl!, "-w", "net.ipv4.ip_local_port_range=40000 40099");
        var second = IPAddress.Parse("127.0.0.2");
        using var listener = ns.RunInside(() => new LoopbackListener(second, port: 40050));
        using var closed = ns.RunInside(() => new ClosedPort(second));
        ns.Iptables("-A", "INPUT", "-p", "tcp", "--syn", "-d", "127.0.0.1", "--dport", "7107", "-j", "DROP");
        var silent = new IPEndPoint(IPAddress.Loopback, 7107);
        RawSynEngine engine = ns.RunInside(() => new RawSynEngine(new TcpShakerOptions(), new TcpShakerMetrics(null)));
        await using var _ = engine;
        var ct = TestContext.Current.CancellationToken;

        var held = Enumerable.Range(0, 60).Select(_ => engine.CheckAsync(silent, TimeSpan.FromSeconds(4), ct).AsTask()).ToArray();
        await WaitUntilAsync(engine.Transport, l => l.ChecksInFlight == held.Length);
        int lanes = await OnLoop(engine.Transport, l => l.SourceLanes);
        Assert.True(lanes >= 2, $"{lanes} lane(s): the pool added no lane, so the race is not tested");

        var open = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => engine.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct).AsTask()));
        var refused = await engine.CheckAsync(closed.EndPoint, TimeSpan.FromSeconds(2), ct);
        var timedOut = await Task.WhenAll(held);

        Assert.Null(engine.Loop.Fault);
        Assert.All(open, r => Assert.True(r.Status == TcpCheckStatus.Open, r.Describe()));
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.All(timedOut, r => Assert.True(r.Status == TcpCheckStatus.Timeout, r.Describe()));
        Assert.False(listener.HasPendingConnection);
        var after = await engine.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct);
        Assert.Equal(TcpCheckStatus.Open, after.Status);
    }

    private static async Task WaitUntilAsync(RawSynTransport loop, Func<RawSynTransport, bool> condition)
    {
        for (int i = 0; i < 100 && !await OnLoop(loop, condition); i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.True(await OnLoop(loop, condition), "the loop did not reach the state the test needs within 5 s");
    }

    private static async Task<T> OnLoop<T>(RawSynTransport loop, Func<RawSynTransport, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
