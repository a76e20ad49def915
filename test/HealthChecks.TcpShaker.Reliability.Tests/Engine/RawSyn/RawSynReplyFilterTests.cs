using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.RawSyn;

/// <summary>
/// The raw engine's reply filter, in the kernel: a SYN-ACK to a port the pool has not reserved never
/// reaches the process, even when that port lies between reserved ones. The scenario runs in a child
/// process inside a network namespace of its own (so no other raw engine's traffic reaches its sockets)
/// whose ephemeral range is narrowed to <see cref="RangeLow"/>-<see cref="RangeHigh"/>; the test holds
/// every tenth port of it, so whatever run of ports the pool reserves has holes the test owns. SYN-ACKs on
/// the checks' own 4-tuples that acknowledge a wrong number do reach the loop, and are not taken for answers.
/// The ICMP and ICMPv6 filters pass only unreachables quoting a SYN from a reserved port, the same way.
/// </summary>
public sealed class RawSynReplyFilterTests
{
    private const string ChildVariable = "TCPSHAKER_FILTER_CHILD";
    private const int RangeLow = 40000;
    private const int RangeHigh = 40999;
    private const int Silent = 150;

    [Fact]
    public void A_SYN_ACK_to_an_unreserved_port_between_reserved_ones_never_reaches_the_process()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create();
        ns.Exec("sh", "-c", $"echo '{RangeLow} {RangeHigh}' > /proc/sys/net/ipv4/ip_local_port_range");
        string[] child = ChildTest.Command(typeof(RawSynReplyFilterTests), nameof(Child_a_SYN_ACK_to_an_unreserved_port_between_reserved_ones_never_reaches_the_process), ChildVariable, "1");
        ChildTest.AssertPassed(ns.TryExec(TimeSpan.FromMinutes(2), child[0], child[1..]));
    }

    [Fact]
    public async Task Child_a_SYN_ACK_to_an_unreserved_port_between_reserved_ones_never_reaches_the_process()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable(ChildVariable) == "1", "runs only in a child process, started by the test of the same name");
        var ct = TestContext.Current.CancellationToken;

        // Every tenth port of the range, held by ordinary sockets: the pool cannot reserve them.
        List<Socket> held = HoldPorts(RangeLow + 5, step: 10);
        HashSet<ushort> heldPorts = [.. held.Select(h => (ushort)((IPEndPoint)h.LocalEndPoint!).Port)];

        try
        {
            await using TcpShaker shaker = await StartedRawAsync(ct);
            RawSynTransport loop = ((RawSynEngine)shaker.Engine!).Transport;
            using var silent = new SilentTarget();

            // Checks in flight hold reserved ports (a silent target answers nothing, so nothing else reaches the loop).
            var inFlight = Enumerable.Range(0, Silent).Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(4), ct).AsTask()).ToArray();
            await Task.Delay(300, ct);
            ushort[] reserved = await OnLoop(loop, l => l.ReservedPortList());
            (int ranges, int extraPorts) = await OnLoop(loop, l => l.ReplyFilterPorts);
            ushort[] between = [.. heldPorts.Where(p => p > reserved[0] && p < reserved[^1])];
            TestContext.Current.TestOutputHelper?.WriteLine($"{reserved.Length} ports reserved in [{reserved[0]}, {reserved[^1]}], the filter has {ranges} ranges and {extraPorts} extra ports; {between.Length} held ports lie between");
            Assert.True(between.Length >= 3, $"only {between.Length} unreserved ports between the reserved ones: the scenario tests nothing");
            Assert.Equal(0, extraPorts);
            long readBefore = await OnLoop(loop, l => l.RepliesRead);
            long unmatchedBefore = await OnLoop(loop, l => l.UnmatchedReplies);

            using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Tcp);
            foreach (ushort port in between)
            {
                SendSynAck(raw, 7, port);
            }

            // The control: from the silent target to every reserved port, so the checks' own 4-tuples among them,
            // each acknowledging a wrong number. Every one reaches the loop and none is taken for an answer.
            foreach (ushort port in reserved)
            {
                SendSynAck(raw, (ushort)silent.EndPoint.Port, port);
            }

            long read = readBefore;
            for (int i = 0; i < 200 && read < readBefore + reserved.Length; i++)
            {
                await Task.Delay(10, ct);
                read = await OnLoop(loop, l => l.RepliesRead);
            }

            await Task.Delay(100, ct);
            read = await OnLoop(loop, l => l.RepliesRead);
            long unmatched = await OnLoop(loop, l => l.UnmatchedReplies);
            TestContext.Current.TestOutputHelper?.WriteLine($"{between.Length} SYN-ACKs to unreserved ports and {reserved.Length} to reserved ones sent, {read - readBefore} read by the loop, {unmatched - unmatchedBefore} unmatched");
            Assert.Equal(reserved.Length, read - readBefore);
            Assert.Equal(reserved.Length, unmatched - unmatchedBefore);

            // ICMP and ICMPv6 destination unreachable quoting a SYN: from the unreserved ports, never read; the control
            // (quoting a reserved port, with a sequence number no check sent) is read, once per family.
            long icmpBefore = await OnLoop(loop, l => l.RepliesRead);
            using var icmp = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp);
            using var icmp6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
            foreach (ushort port in between.Append(reserved[reserved.Length / 2]))
            {
                icmp.SendTo(IcmpUnreachableV4(port, (ushort)silent.EndPoint.Port), new IPEndPoint(IPAddress.Loopback, 0));
                icmp6.SendTo(IcmpUnreachableV6(port, (ushort)silent.EndPoint.Port), new IPEndPoint(IPAddress.IPv6Loopback, 0));
            }

            long icmpRead = icmpBefore;
            for (int i = 0; i < 200 && icmpRead < icmpBefore + 2; i++)
            {
                await Task.Delay(10, ct);
                icmpRead = await OnLoop(loop, l => l.RepliesRead);
            }

            await Task.Delay(100, ct);
            icmpRead = await OnLoop(loop, l => l.RepliesRead);
            Assert.Equal(2, icmpRead - icmpBefore);

            var results = await Task.WhenAll(inFlight);
            Assert.All(results, r => Assert.True(r.Status == TcpCheckStatus.Timeout, r.Describe()));
        }
        finally
        {
            foreach (Socket socket in held)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public void When_the_kernel_refuses_the_filter_for_its_size_fewer_ranges_are_used_and_checks_go_on()
    {
        Namespaces.SkipUnlessAvailable();
        RawSockets.SkipUnlessPermitted();
        using var ns = NetNamespace.Create();
        ns.Exec("sh", "-c", $"echo '{RangeLow} {RangeHigh}' > /proc/sys/net/ipv4/ip_local_port_range");

        // Socket option memory of 8 KiB per socket (per namespace since Linux 6.9): a program of a few hundred ranges does not fit.
        ns.Exec("sh", "-c", "echo 8192 > /proc/sys/net/core/optmem_max");
        Assert.SkipUnless(ns.Exec("cat", "/proc/sys/net/core/optmem_max").Trim() == "8192", "net.core.optmem_max is not per namespace on this kernel");
        string[] child = ChildTest.Command(typeof(RawSynReplyFilterTests), nameof(Child_when_the_kernel_refuses_the_filter_for_its_size_fewer_ranges_are_used_and_checks_go_on), ChildVariable, "2");
        ChildTest.AssertPassed(ns.TryExec(TimeSpan.FromMinutes(2), child[0], child[1..]));
    }

    [Fact]
    public async Task Child_when_the_kernel_refuses_the_filter_for_its_size_fewer_ranges_are_used_and_checks_go_on()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable(ChildVariable) == "2", "runs only in a child process, started by the test of the same name");
        var ct = TestContext.Current.CancellationToken;

        // Every other port held: the pool's ports are all apart, a range each.
        List<Socket> held = HoldPorts(RangeLow + 1, step: 2);

        try
        {
            await using TcpShaker shaker = await StartedRawAsync(ct);
            RawSynTransport loop = ((RawSynEngine)shaker.Engine!).Transport;
            using var silent = new SilentTarget();
            using var listener = new LoopbackListener(IPAddress.Loopback);

            var inFlight = Enumerable.Range(0, Silent).Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(3), ct).AsTask()).ToArray();
            await Task.Delay(300, ct);
            ushort[] reserved = await OnLoop(loop, l => l.ReservedPortList());
            (int ranges, int extraPorts) = await OnLoop(loop, l => l.ReplyFilterPorts);
            Assert.True(ranges < reserved.Length && extraPorts > 0, $"{reserved.Length} ports apart, yet the filter holds {ranges} ranges and {extraPorts} extra ports: the kernel took the whole program, so the fallback is not tested");

            // Every port's replies still pass: checks from all of them find the listener open.
            TcpCheckResult[] open = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct).AsTask()));
            Assert.All(open, r => Assert.True(r.Status == TcpCheckStatus.Open, r.Describe()));
            Assert.Null(((RawSynEngine)shaker.Engine!).Loop.Fault);
            Assert.All(await Task.WhenAll(inFlight), r => Assert.True(r.Status == TcpCheckStatus.Timeout, r.Describe()));
        }
        finally
        {
            foreach (Socket socket in held)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>A SYN-ACK from 127.0.0.1:<paramref name="from"/> to 127.0.0.1:<paramref name="port"/> acknowledging an arbitrary number, its checksum right.</summary>
    private static void SendSynAck(Socket raw, ushort from, ushort port)
    {
        byte[] tcp = new byte[SynPacket.Length];
        SynPacket.Write(tcp, from, port, 0x1234_5678);
        tcp[13] = SynPacket.FlagSyn | SynPacket.FlagAck;
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), 0x0bad_cafe);
        SynPacket.WriteChecksumV4(tcp, 0x7F000001, 0x7F000001);
        raw.SendTo(tcp, new IPEndPoint(IPAddress.Loopback, 0));
    }

    /// <summary>ICMP port unreachable from 127.0.0.1 quoting a SYN from 127.0.0.1:<paramref name="port"/> to <paramref name="target"/>.</summary>
    private static byte[] IcmpUnreachableV4(ushort port, ushort target)
    {
        byte[] icmp = new byte[8 + 20 + 8];
        icmp[0] = 3; // destination unreachable
        icmp[1] = 3; // port unreachable
        icmp[8] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(8 + 2), 44);
        icmp[8 + 8] = 64;
        icmp[8 + 9] = 6; // TCP
        BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(8 + 12), 0x7F000001);
        BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(8 + 16), 0x7F000001);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(28), port);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(30), target);
        BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(32), 0x0bad_cafe);
        uint sum = 0;
        for (int i = 0; i < icmp.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(icmp.AsSpan(i));
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), (ushort)~sum);
        return icmp;
    }

    /// <summary>ICMPv6 port unreachable quoting a SYN from [::1]:<paramref name="port"/> to <paramref name="target"/> (the kernel fills the checksum).</summary>
    private static byte[] IcmpUnreachableV6(ushort port, ushort target)
    {
        byte[] icmp = new byte[8 + 40 + 8];
        icmp[0] = 1; // destination unreachable
        icmp[1] = 4; // port unreachable
        icmp[8] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(8 + 4), 24);
        icmp[8 + 6] = 6; // TCP
        icmp[8 + 7] = 64;
        IPAddress.IPv6Loopback.GetAddressBytes().CopyTo(icmp, 8 + 8);
        IPAddress.IPv6Loopback.GetAddressBytes().CopyTo(icmp, 8 + 24);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(48), port);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(50), target);
        BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(52), 0x0bad_cafe);
        return icmp;
    }

    private static async Task<T> OnLoop<T>(RawSynTransport loop, Func<RawSynTransport, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>Binds ordinary sockets to every <paramref name="step"/>th port of the range from <paramref name="first"/>, so the pool cannot reserve them.</summary>
    private static List<Socket> HoldPorts(int first, int step)
    {
        var held = new List<Socket>();
        for (int port = first; port <= RangeHigh; port += step)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            held.Add(socket);
        }

        return held;
    }

    private static async Task<TcpShaker> StartedRawAsync(CancellationToken ct)
    {
        var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
        await shaker.StartAsync(ct);
        Assert.Equal(TcpShakerMode.RawSyn, shaker.Mode);
        return shaker;
    }
}
