using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests;

/// <summary>
/// The raw engine's reply filter, in the kernel: a SYN-ACK to a port the pool has not reserved never
/// reaches the process, even when that port lies between reserved ones. The scenario runs in a child
/// process inside a network namespace of its own (so no other raw engine's traffic reaches its sockets)
/// whose ephemeral range is narrowed to <see cref="RangeLow"/>-<see cref="RangeHigh"/>; the test holds
/// every tenth port of it, so whatever run of ports the pool reserves has holes the test owns. SYN-ACKs on
/// the checks' own 4-tuples that acknowledge a wrong number do reach the loop, and are not taken for answers.
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
        var held = new List<Socket>();
        var heldPorts = new HashSet<ushort>();
        for (int port = RangeLow + 5; port <= RangeHigh; port += 10)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            held.Add(socket);
            heldPorts.Add((ushort)port);
        }

        try
        {
            await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
            await shaker.StartAsync(ct);
            Assert.Equal(TcpShakerMode.RawSyn, shaker.Mode);
            RawSynLoop loop = ((RawSynEngine)shaker.Engine!).Loop;
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

    private static async Task<T> OnLoop<T>(RawSynLoop loop, Func<RawSynLoop, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
