using System.Net;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests;

/// <summary>
/// The same targets give the same results in every mode: a listener, a closed port, a silent port
/// (iptables DROP) and an unreachable one (REJECT icmp-host-unreachable) in a namespace across a veth,
/// and IPv6 loopback. Only what each mode costs the server differs, which the mode's own tests assert.
/// </summary>
public sealed class ModeParityTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMilliseconds(800);

    public static TheoryData<TcpShakerMode> Modes => new(TcpShakerMode.HalfOpen, TcpShakerMode.FullConnect, TcpShakerMode.RawSyn);

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Open_refused_silent_and_unreachable_classify_the_same_in_every_mode(TcpShakerMode mode)
    {
        Namespaces.SkipUnlessAvailable();
        if (mode == TcpShakerMode.RawSyn)
        {
            RawSockets.SkipUnlessPermitted();
        }

        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint open) = ns.ListenCountingSyns();
        using var _ = listener;
        using var closed = ns.RunInside(() => new ClosedPort(IPAddress.Any));
        IPEndPoint refused = new(ns.InsideAddress!, closed.EndPoint.Port);
        IPEndPoint silent = ns.DropPort(7201);
        IPEndPoint unreachable = ns.RejectPort(7202);
        await using TcpShaker shaker = await StartedAsync(mode);
        var ct = TestContext.Current.CancellationToken;

        TcpCheckResult[] results = await Task.WhenAll(
            new[] { open, refused, silent, unreachable }.Select(target => shaker.CheckAsync(target, Deadline, ct).AsTask()));

        string described = string.Join("; ", results.Select(r => r.Describe()));
        Assert.True(results[0].Status == TcpCheckStatus.Open && results[0].ErrorCode == 0, described);
        Assert.True(results[1].Status == TcpCheckStatus.Refused && results[1].ErrorCode == Errno.ECONNREFUSED, described);
        Assert.True(results[2].Status == TcpCheckStatus.Timeout && results[2].ErrorCode == 0 && results[2].ErrorKind == TcpCheckErrorKind.None, described);
        Assert.True(results[3].Status == TcpCheckStatus.Unreachable && results[3].ErrorCode == Errno.EHOSTUNREACH, described);
        Assert.Equal(mode == TcpShakerMode.FullConnect ? 1 : 0, ns.Counter("TcpPassiveOpens")); // what differs: only a full connect is a connection
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task IPv6_loopback_open_and_refused_classify_the_same_in_every_mode(TcpShakerMode mode)
    {
        if (mode == TcpShakerMode.RawSyn)
        {
            RawSockets.SkipUnlessPermitted();
        }

        LoopbackListener? listener = null;
        try
        {
            listener = new LoopbackListener(IPAddress.IPv6Loopback);
        }
        catch (System.Net.Sockets.SocketException)
        {
            Assert.Skip("::1 is not available here");
        }

        using var _ = listener;
        using var closed = new ClosedPort(IPAddress.IPv6Loopback);
        await using TcpShaker shaker = await StartedAsync(mode);
        var ct = TestContext.Current.CancellationToken;

        TcpCheckResult open = await shaker.CheckAsync(listener!.EndPoint, Deadline, ct);
        TcpCheckResult refused = await shaker.CheckAsync(closed.EndPoint, Deadline, ct);

        Assert.True(open.Status == TcpCheckStatus.Open, open.Describe());
        Assert.True(refused.Status == TcpCheckStatus.Refused && refused.ErrorCode == Errno.ECONNREFUSED, refused.Describe());
    }

    private static async Task<TcpShaker> StartedAsync(TcpShakerMode mode)
    {
        var shaker = new TcpShaker(new TcpShakerOptions
        {
            ForceFullConnect = mode == TcpShakerMode.FullConnect,
            PreferRawSyn = mode == TcpShakerMode.RawSyn,
        });
        await shaker.StartAsync(TestContext.Current.CancellationToken);
        if (shaker.Mode != mode)
        {
            await shaker.DisposeAsync();
            Assert.Fail($"asked for {mode}, the engine runs {shaker.Mode}");
        }

        return shaker;
    }
}
