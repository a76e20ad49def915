using System.Net;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests;

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
        var loop = ((RawSynEngine)shaker.Engine!).Loop;
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

    private static async Task<T> OnLoop<T>(RawSynLoop loop, Func<RawSynLoop, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
