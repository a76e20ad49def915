using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.RawSyn;

/// <summary>
/// Raw SYN mode (<see cref="TcpShakerOptions.PreferRawSyn"/>): the behaviour every mode shares, run in this
/// mode (open, refused, silent, unreachable, IPv6, cancellation, dispose with checks in flight), what only
/// this mode promises (no leak however starved the loop is), and its fallback.
/// </summary>
public sealed class RawSynTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    private static TcpShaker RawShaker(ILoggerFactory? loggerFactory = null) =>
        new(new TcpShakerOptions { PreferRawSyn = true }, loggerFactory);

    /// <summary>A started shaker in raw SYN mode; the test fails with the logged reason if it fell back.</summary>
    private static async Task<TcpShaker> StartedRawShakerAsync()
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        TcpShaker shaker = RawShaker(loggerFactory);
        await shaker.StartAsync(TestContext.Current.CancellationToken);
        Assert.True(shaker.Mode == TcpShakerMode.RawSyn, $"mode {shaker.Mode}: {string.Join("; ", logs.Entries.Select(e => e.Message))}");
        return shaker;
    }

    [Fact]
    public async Task A_loopback_listener_is_Open_and_never_sees_a_connection()
    {
        RawSockets.SkipUnlessPermitted();
        await using TcpShaker shaker = await StartedRawShakerAsync();
        using var listener = new LoopbackListener(IPAddress.Loopback);

        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken).AsTask()));

        Assert.All(results, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.All(results, r => Assert.Equal(0, r.ErrorCode));
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task Raw_mode_runs_one_loop_whatever_LoopCount_says_and_its_start_line_says_so()
    {
        RawSockets.SkipUnlessPermitted();
        var logs = new CapturingLoggerProvider();
        using (var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)))
        {
            await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true, LoopCount = 4 }, loggerFactory);
            await shaker.StartAsync(TestContext.Current.CancellationToken);
            Assert.Equal(TcpShakerMode.RawSyn, shaker.Mode);
        }

        Assert.Contains(logs.Entries, e => e.Message == "TcpShaker started in RawSyn mode with 1 loop(s).");
    }

    [Fact]
    public async Task A_closed_loopback_port_is_Refused_ECONNREFUSED()
    {
        RawSockets.SkipUnlessPermitted();
        await using TcpShaker shaker = await StartedRawShakerAsync();
        using var closed = new ClosedPort(IPAddress.Loopback);

        var result = await shaker.CheckAsync(closed.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Refused, result.Status);
        Assert.Equal(Errno.ECONNREFUSED, result.ErrorCode);
        Assert.Equal(TcpCheckErrorKind.OperatingSystem, result.ErrorKind);
    }

    [Fact]
    public async Task IPv6_loopback_is_Open_or_Refused_as_its_port_is()
    {
        RawSockets.SkipUnlessPermitted();
        LoopbackListener? listener = null;
        try
        {
            listener = new LoopbackListener(IPAddress.IPv6Loopback);
        }
        catch (SocketException)
        {
            Assert.Skip("::1 is not available here");
        }

        using var _ = listener;
        using var closed = new ClosedPort(IPAddress.IPv6Loopback);
        await using TcpShaker shaker = await StartedRawShakerAsync();
        var ct = TestContext.Current.CancellationToken;

        var open = await shaker.CheckAsync(listener!.EndPoint, Timeout, ct);
        var refused = await shaker.CheckAsync(closed.EndPoint, Timeout, ct);
        var mapped = await shaker.CheckAsync(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), closed.EndPoint.Port), Timeout, ct);

        Assert.Equal(TcpCheckStatus.Open, open.Status);
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.Equal(Errno.ECONNREFUSED, refused.ErrorCode);
        Assert.Equal(TcpCheckStatus.Refused, mapped.Status); // ::ffff:127.0.0.1 goes out as IPv4, where nothing holds the port
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task A_silent_target_times_out_at_the_deadline_after_a_paced_retransmission()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7101);
        await using TcpShaker shaker = await StartedRawShakerAsync();
        var deadline = TimeSpan.FromMilliseconds(1500);

        var result = await shaker.CheckAsync(target, deadline, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Timeout, result.Status);
        Assert.Equal(TcpCheckErrorKind.None, result.ErrorKind);
        Assert.Equal(0, result.ErrorCode);
        Assert.InRange(result.Elapsed, deadline, deadline + TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, ns.IptablesPackets("INPUT", "DROP")); // the SYN, and its retransmission 1 s later
        Assert.Equal(1, ((RawSynEngine)shaker.Engine!).Transport.Retransmissions);
    }

    [Fact]
    public async Task Icmp_host_unreachable_is_Unreachable_EHOSTUNREACH_well_before_the_deadline()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.RejectPort(7102);
        await using TcpShaker shaker = await StartedRawShakerAsync();
        var deadline = TimeSpan.FromSeconds(5);

        var result = await shaker.CheckAsync(target, deadline, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Unreachable, result.Status);
        Assert.Equal(Errno.EHOSTUNREACH, result.ErrorCode);
        Assert.True(result.Elapsed < deadline / 2, $"answered after {result.Elapsed}");
    }

    [Fact]
    public async Task A_listener_across_a_veth_is_Open_and_its_kernel_sees_no_connection()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint target) = ns.ListenCountingSyns();
        using var _ = listener;
        using var closed = ns.RunInside(() => new ClosedPort(IPAddress.Any));
        await using TcpShaker shaker = await StartedRawShakerAsync();
        var ct = TestContext.Current.CancellationToken;

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => shaker.CheckAsync(target, Timeout, ct).AsTask()));
        var refused = await shaker.CheckAsync(new IPEndPoint(ns.InsideAddress!, closed.EndPoint.Port), Timeout, ct);

        Assert.All(results, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.Equal(50, ns.IptablesPackets("INPUT", "ACCEPT"));
        Assert.Equal(0, ns.Counter("TcpPassiveOpens"));
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task ICMPv6_and_ICMP_unreachable_on_loopback_give_the_errno_connect_would()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        Assert.SkipWhen(Sh.Which("ip6tables") is null, "'ip6tables' is not installed");
        using var ns = NetNamespace.Create(veth: false);
        ns.Exec(Sh.Which("ip6tables")!, "-w", "-A", "INPUT", "-p", "tcp", "--dport", "7105", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited");
        ns.Iptables("-A", "INPUT", "-p", "tcp", "--dport", "7106", "-j", "REJECT", "--reject-with", "icmp-net-unreachable");
        RawSynEngine engine = ns.RunInside(() => new RawSynEngine(new TcpShakerOptions(), new TcpShakerMetrics(null)));
        await using var _ = engine;
        var ct = TestContext.Current.CancellationToken;

        var v6 = await engine.CheckAsync(new IPEndPoint(IPAddress.IPv6Loopback, 7105), TimeSpan.FromSeconds(5), ct);
        var v4 = await engine.CheckAsync(new IPEndPoint(IPAddress.Loopback, 7106), TimeSpan.FromSeconds(5), ct);

        Assert.Equal(TcpCheckStatus.Unreachable, v6.Status);
        Assert.Equal(Errno.EACCES, v6.ErrorCode); // administratively prohibited, as connect() reports it
        Assert.True(v6.Elapsed < TimeSpan.FromSeconds(1), $"answered after {v6.Elapsed}");
        Assert.Equal(TcpCheckStatus.Unreachable, v4.Status);
        Assert.Equal(Errno.ENETUNREACH, v4.ErrorCode);
    }

    [Fact]
    public async Task Source_ports_come_from_the_ephemeral_range_as_many_as_the_load_needs()
    {
        RawSockets.SkipUnlessPermitted();
        await using TcpShaker shaker = await StartedRawShakerAsync();
        using var listener = new LoopbackListener(IPAddress.Loopback);
        var ct = TestContext.Current.CancellationToken;
        var loop = ((RawSynEngine)shaker.Engine!).Transport;

        for (int round = 0; round < 10; round++)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => shaker.CheckAsync(listener.EndPoint, Timeout, ct).AsTask()));
            Assert.All(results, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        }

        var reserved = new TaskCompletionSource<(int Count, int Lowest, int Highest)>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => reserved.SetResult(l.ReservedPorts));
        (int count, int lowest, int highest) = await reserved.Task.WaitAsync(TimeSpan.FromSeconds(5));
        string[] range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split(['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);

        TestContext.Current.TestOutputHelper?.WriteLine($"{count} ports reserved, {lowest}-{highest}, ephemeral range {range[0]}-{range[1]}");
        Assert.InRange(count, 100, 400); // 100 in flight at most: about twice that, grown in steps
        Assert.InRange(lowest, int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture), highest);
        Assert.InRange(highest, lowest, int.Parse(range[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task With_conntrack_tracking_and_dropping_INVALID_raw_checks_still_find_the_listener_open()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: false);
        // Stateful rules make the namespace track every packet (nf_conntrack), as a host firewall does.
        ns.Iptables("-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP");
        ns.Iptables("-A", "INPUT", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED,RELATED", "-j", "ACCEPT");
        using var listener = ns.RunInside(() => new LoopbackListener(IPAddress.Loopback));
        using var closed = ns.RunInside(() => new ClosedPort(IPAddress.Loopback));
        RawSynEngine engine = ns.RunInside(() => new RawSynEngine(new TcpShakerOptions(), new TcpShakerMetrics(null)));
        await using var _ = engine;
        var ct = TestContext.Current.CancellationToken;

        var open = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => engine.CheckAsync(listener.EndPoint, Timeout, ct).AsTask()));
        var refused = await engine.CheckAsync(closed.EndPoint, Timeout, ct);

        Assert.All(open, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.True(ns.IptablesPackets("INPUT", "ACCEPT") >= 100, "conntrack saw the checks");
        Assert.Equal(0, ns.Counter("TcpPassiveOpens"));
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task A_canceled_check_throws_and_the_engine_goes_on()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: true);
        var silent = ns.DropPort(7103);
        await using TcpShaker shaker = await StartedRawShakerAsync();
        using var listener = new LoopbackListener(IPAddress.Loopback);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => shaker.CheckAsync(silent, TimeSpan.FromSeconds(10), cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        var after = await shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Open, after.Status);
        Assert.Equal(0, ((RawSynEngine)shaker.Engine!).Transport.Retransmissions);
    }

    [Fact]
    public async Task Dispose_with_checks_in_flight_ends_each_of_them()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create(veth: true);
        var silent = ns.DropPort(7104);
        TcpShaker shaker = await StartedRawShakerAsync();
        var checks = Enumerable.Range(0, 100).Select(_ => shaker.CheckAsync(silent, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken).AsTask()).ToList();
        await Task.Delay(100, TestContext.Current.CancellationToken);

        await shaker.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        foreach (Task<TcpCheckResult> check in checks)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => check.WaitAsync(TimeSpan.FromSeconds(5)));
        }
    }

    /// <summary>
    /// The loop thread stopped for 500 ms right after its SYNs went out: in raw mode the kernel has
    /// answered every SYN-ACK with RST meanwhile, so the server saw no connection; in half-open mode
    /// (the control) the kernel's delayed ACK fired first and the server accepted connections.
    /// </summary>
    [Fact]
    public async Task A_loop_starved_for_500_ms_leaks_nothing_in_raw_mode_while_half_open_mode_leaks()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        const int checks = 64;

        using var rawNs = NetNamespace.Create(veth: true);
        (LoopbackListener rawListener, IPEndPoint rawTarget) = rawNs.ListenCountingSyns();
        using var l1 = rawListener;
        await using TcpShaker raw = await StartedRawShakerAsync();
        var rawLoop = ((RawSynEngine)raw.Engine!).Transport;
        var rawResults = await StarveAsync(raw, rawTarget, checks, a => rawLoop.Post(_ => a()));

        using var halfNs = NetNamespace.Create(veth: true);
        (LoopbackListener halfListener, IPEndPoint halfTarget) = halfNs.ListenCountingSyns();
        using var l2 = halfListener;
        await using var halfOpen = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        await halfOpen.StartAsync(TestContext.Current.CancellationToken);
        var halfLoop = ((HalfOpenEngine)halfOpen.Engine!).Loops[0];
        var halfResults = await StarveAsync(halfOpen, halfTarget, checks, a => halfLoop.Post(_ => a()));

        long rawAccepted = rawNs.Counter("TcpPassiveOpens");
        long halfAccepted = halfNs.Counter("TcpPassiveOpens");
        TestContext.Current.TestOutputHelper?.WriteLine($"starved 500 ms: raw mode {rawAccepted} accepted of {checks}, half-open mode {halfAccepted} accepted of {checks}");
        Assert.All(rawResults, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.Equal(checks, rawNs.IptablesPackets("INPUT", "ACCEPT"));
        Assert.Equal(0, rawAccepted);
        Assert.Equal(0, rawNs.Counter("TcpExtDelayedACKs"));
        Assert.False(rawListener.HasPendingConnection);
        Assert.True(halfAccepted > 0, "the control: a half-open loop starved for 500 ms lets the kernel's delayed ACK complete handshakes");
        Assert.Equal(checks, halfResults.Length);
    }

    /// <summary>Holds the loop, queues the checks, then lets it start them and sleep 500 ms before it reads a reply.</summary>
    private static async Task<TcpCheckResult[]> StarveAsync(TcpShaker shaker, IPEndPoint target, int count, Action<Action> post)
    {
        using var entered = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        post(() =>
        {
            entered.Set();
            gate.Wait(TimeSpan.FromSeconds(10));
        });
        Assert.True(entered.Wait(TimeSpan.FromSeconds(10)));
        var checks = Enumerable.Range(0, count).Select(_ => shaker.CheckAsync(target, TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken).AsTask()).ToList();
        post(() => Thread.Sleep(500)); // runs right after the iteration that sends the SYNs
        gate.Set();
        return await Task.WhenAll(checks).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Without_CAP_NET_RAW_the_raw_engine_cannot_start_and_says_EPERM()
    {
        RawSockets.SkipUnlessPermitted();
        var metrics = new TcpShakerMetrics(null);

        var failure = RawSockets.RunWithoutCapability(RawSockets.CapNetRaw, () =>
        {
            try
            {
                new RawSynEngine(new TcpShakerOptions(), metrics).DisposeAsync().AsTask().Wait();
                return (EngineStartException?)null;
            }
            catch (EngineStartException e)
            {
                return e;
            }
        });

        Assert.NotNull(failure);
        Assert.Equal(Errno.EPERM, failure.Errno);
    }

    [Fact]
    public async Task When_raw_mode_is_unavailable_the_reason_is_logged_once_and_HalfOpen_runs()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the socket modes' fallback order is Linux's");
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true }, loggerFactory) { ForceRawSynUnavailable = "injected: the process lacks CAP_NET_RAW" };
        using var listener = new LoopbackListener(IPAddress.Loopback);

        var first = await shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken);
        var second = await shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
        Assert.Equal(TcpCheckStatus.Open, first.Status);
        Assert.Equal(TcpCheckStatus.Open, second.Status);
        var warning = Assert.Single(logs.Entries, e => e.Message.Contains("RawSyn", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("injected: the process lacks CAP_NET_RAW", warning.Message, StringComparison.Ordinal);
        Assert.Equal("raw SYN mode is unavailable: injected: the process lacks CAP_NET_RAW", shaker.ModeReason);
    }

    [Fact]
    public async Task A_firewall_dropping_outgoing_RSTs_fails_the_verification_and_a_clean_namespace_passes_it()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var clean = NetNamespace.Create(veth: false);
        using var dropsRsts = NetNamespace.Create(veth: false);
        dropsRsts.Iptables("-A", "OUTPUT", "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP");
        var metrics = new TcpShakerMetrics(null);

        var (holds, reason) = await VerifyInsideAsync(clean, metrics);
        var (brokenHolds, brokenReason) = await VerifyInsideAsync(dropsRsts, metrics);

        TestContext.Current.TestOutputHelper?.WriteLine($"clean: {reason}; RSTs dropped: {brokenReason}");
        Assert.True(holds, reason);
        Assert.False(brokenHolds);
        Assert.Contains("drops outgoing RSTs", brokenReason, StringComparison.Ordinal);
        Assert.True(dropsRsts.IptablesPackets("OUTPUT", "DROP") >= 1);
    }

    /// <summary>Makes a raw engine and runs its verification inside <paramref name="ns"/> (the loop thread inherits the namespace).</summary>
    private static async Task<(bool Holds, string Reason)> VerifyInsideAsync(NetNamespace ns, TcpShakerMetrics metrics)
    {
        (RawSynEngine engine, Task<(bool, string)> verdict) = ns.RunInside(() =>
        {
            var engine = new RawSynEngine(new TcpShakerOptions(), metrics);
            return (engine, RawSynVerifier.VerifyAsync(engine, CancellationToken.None));
        });
        await using var _ = engine;
        return await verdict.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
