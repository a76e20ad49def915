using System.Net;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine;

/// <summary>
/// The same targets give the same results in every mode: a listener, a closed port, a silent port
/// (iptables DROP) and an unreachable one (REJECT icmp-host-unreachable) in a namespace across a veth,
/// and IPv6 loopback; the addresses connect() treats specially (0.0.0.0 and [::], multicast, broadcast) and policy
/// routing by protocol, in a namespace. Only what each mode costs the server differs, which the mode's own tests assert.
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

    private const string ChildVariable = "TCPSHAKER_PARITY_CHILD";

    // Inside the namespace: a veth pair (both ends inside) carrying 10.77.0.1/24 and the multicast route, and
    // 10.78.0.1, which policy routing (TCP only) makes a TCP connection reach from 10.78.1.1.
    private const string VethSubnetBroadcast = "10.77.0.255";
    private const string VethSilent = "10.77.0.9";
    private const string PolicyRouted = "10.78.0.1";

    /// <summary>Targets connect() refuses or redirects, one destination port each, so the OUTPUT rule of each counts only its SYNs.</summary>
    private static readonly (string Address, int Port)[] NeverSent =
    [
        ("224.0.0.1", 7301), ("239.255.0.1", 7302), ("255.255.255.255", 7303), (VethSubnetBroadcast, 7304),
    ];

    private const string Ipv6Multicast = "ff0e::1";
    private const int Ipv6MulticastPort = 7306;
    private const int SilentPort = 7305;

    [Theory]
    [MemberData(nameof(Modes))]
    public void Any_multicast_broadcast_and_policy_routed_targets_classify_the_same_in_every_mode_and_nothing_is_sent_where_connect_refuses(TcpShakerMode mode)
    {
        Namespaces.SkipUnlessAvailable();
        if (mode == TcpShakerMode.RawSyn)
        {
            RawSockets.SkipUnlessPermitted();
        }

        using var ns = NetNamespace.Create();
        string ip = Sh.Which("ip")!;
        ns.Exec(ip, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1");
        ns.Exec(ip, "addr", "add", "10.77.0.1/24", "dev", "pv0");
        ns.Exec(ip, "addr", "add", PolicyRouted + "/24", "dev", "pv0");
        ns.Exec(ip, "addr", "add", "10.78.1.1/24", "dev", "pv0");
        ns.Exec(ip, "link", "set", "pv0", "up");
        ns.Exec(ip, "link", "set", "pv1", "up");
        ns.Exec(ip, "route", "add", "224.0.0.0/4", "dev", "pv0"); // a multicast route, so only the address makes connect() refuse
        ns.Exec(ip, "-6", "route", "add", "ff0e::/16", "dev", "pv0", "table", "main");

        // Policy routing by protocol: TCP to 10.78.0.1 goes from 10.78.1.1, UDP from 10.78.0.1 (the local table
        // moves behind the rule, which would otherwise answer first).
        ns.Exec(ip, "rule", "add", "pref", "20", "lookup", "local");
        ns.Exec(ip, "rule", "del", "pref", "0");
        ns.Exec(ip, "rule", "add", "pref", "10", "ipproto", "tcp", "lookup", "100");
        ns.Exec(ip, "route", "add", "local", PolicyRouted, "dev", "pv0", "src", "10.78.1.1", "table", "100");

        foreach ((_, int port) in NeverSent)
        {
            ns.Iptables("-A", "OUTPUT", "-p", "tcp", "--dport", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "ACCEPT");
        }

        ns.Iptables("-A", "OUTPUT", "-p", "tcp", "--dport", SilentPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "ACCEPT");
        string ip6tables = Sh.Which("ip6tables") ?? throw new InvalidOperationException("'ip6tables' is not installed");
        ns.Exec(ip6tables, "-w", "-A", "OUTPUT", "-p", "tcp", "--dport", Ipv6MulticastPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "ACCEPT");

        string[] child = ChildTest.Command(typeof(ModeParityTests), nameof(Child_any_multicast_broadcast_and_policy_routed_targets), ChildVariable, mode.ToString());
        ChildTest.AssertPassed(ns.TryExec(TimeSpan.FromMinutes(1), child[0], child[1..]));

        foreach ((string address, int port) in NeverSent)
        {
            Assert.True(ns.IptablesPackets("OUTPUT", "ACCEPT", port) == 0, $"{mode}: a SYN to {address} left the host");
        }

        string ip6Rules = ns.Exec(ip6tables, "-w", "-L", "OUTPUT", "-v", "-x", "-n");
        Assert.True(ip6Rules.Split('\n').Where(l => l.Contains($"dpt:{Ipv6MulticastPort}", StringComparison.Ordinal)).All(l => l.TrimStart().StartsWith("0 ", StringComparison.Ordinal)), $"{mode}: a SYN to {Ipv6Multicast} left the host: {ip6Rules}");
        Assert.True(ns.IptablesPackets("OUTPUT", "ACCEPT", SilentPort) > 0, $"{mode}: the control's SYN was not counted, so the counters prove nothing");
    }

    [Fact]
    public async Task Child_any_multicast_broadcast_and_policy_routed_targets()
    {
        string? modeName = Environment.GetEnvironmentVariable(ChildVariable);
        Assert.SkipWhen(modeName is null, "runs only in a child process, started by the test of the same name");
        TcpShakerMode mode = Enum.Parse<TcpShakerMode>(modeName!);
        using var listener = new LoopbackListener(IPAddress.Any);
        using var listener6 = new LoopbackListener(IPAddress.IPv6Loopback);
        await using TcpShaker shaker = await StartedAsync(mode);
        var ct = TestContext.Current.CancellationToken;

        async Task<TcpCheckResult> Check(string address, int port) => await shaker.CheckAsync(new IPEndPoint(IPAddress.Parse(address), port), Deadline, ct);

        // Every target is checked and every difference reported, not only the first.
        var wrong = new List<string>();
        void Expect(bool right, TcpCheckResult result)
        {
            if (!right)
            {
                wrong.Add($"{mode}: {result.Describe()}");
            }
        }

        // 0.0.0.0 and [::] are this host to connect(); a TCP connection to 10.78.0.1 comes from 10.78.1.1, which the SYN's checksum must use.
        TcpCheckResult any = await Check("0.0.0.0", listener.Port);
        Expect(any.Status == TcpCheckStatus.Open, any);
        TcpCheckResult any6 = await Check("::", listener6.Port);
        Expect(any6.Status == TcpCheckStatus.Open, any6);
        TcpCheckResult policy = await Check(PolicyRouted, listener.Port);
        Expect(policy.Status == TcpCheckStatus.Open, policy);

        // Multicast and broadcast: connect() refuses them with ENETUNREACH before anything is sent.
        foreach ((string address, int port) in NeverSent.Append((Ipv6Multicast, Ipv6MulticastPort)))
        {
            TcpCheckResult refused = await Check(address, port);
            Expect(refused.Status == TcpCheckStatus.Unreachable && refused.ErrorCode == Errno.ENETUNREACH, refused);
        }

        TcpCheckResult silent = await Check(VethSilent, SilentPort);
        Expect(silent.Status == TcpCheckStatus.Timeout, silent);
        Assert.True(wrong.Count == 0, string.Join("; ", wrong));
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
