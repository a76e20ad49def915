using System.Buffers.Binary;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Tests.Engine.RawSyn;

/// <summary>The raw SYN engine's pure parts: the packet, its checksum, the sequence numbers, the filters, the ICMP table, the native layouts.</summary>
public sealed class RawSynPacketTests
{
    [Fact]
    public void The_SYN_has_the_kernel_checked_IPv4_checksum_and_an_MSS_option()
    {
        Span<byte> tcp = stackalloc byte[SynPacket.Length];
        SynPacket.Write(tcp, 40000, 80, 0x01020304);
        SynPacket.WriteChecksumV4(tcp, 0x0A000001, 0x0A000002); // 10.0.0.1 -> 10.0.0.2

        // The reference value was computed independently (RFC 793 pseudo-header sum in Python).
        Assert.Equal(0xe89c, BinaryPrimitives.ReadUInt16BigEndian(tcp[16..]));
        Assert.Equal(40000, BinaryPrimitives.ReadUInt16BigEndian(tcp));
        Assert.Equal(80, BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]));
        Assert.Equal(0x01020304u, BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
        Assert.Equal(0x60, tcp[12]);
        Assert.Equal(SynPacket.FlagSyn, tcp[13]);
        Assert.Equal([2, 4, 0x05, 0xb4], tcp[20..].ToArray());
    }

    /// <summary>The reference vectors of the SipHash paper (vectors.h): key 00..0f, messages 00..(n-1) for n = 0..63, output little-endian.</summary>
    private static readonly string[] SipHashVectors =
    [
        "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
        "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
        "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
        "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
        "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
        "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
        "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
        "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
        "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
        "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
        "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
        "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
        "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
        "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
        "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
        "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
    ];

    private static readonly SipKey ReferenceKey = new(0x0706050403020100UL, 0x0f0e0d0c0b0a0908UL);

    [Fact]
    public void SipHash_2_4_gives_the_reference_vectors()
    {
        byte[] message = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        for (int length = 0; length < 64; length++)
        {
            byte[] expected = Convert.FromHexString(SipHashVectors[length]);
            Assert.Equal(BinaryPrimitives.ReadUInt64LittleEndian(expected), SipHash.Hash(ReferenceKey, message.AsSpan(0, length)));
        }
    }

    [Fact]
    public void SipHash_of_four_words_is_SipHash_of_their_32_bytes()
    {
        byte[] message = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        ulong[] words = [.. Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadUInt64LittleEndian(message.AsSpan(i * 8)))];
        Assert.Equal(BinaryPrimitives.ReadUInt64LittleEndian(Convert.FromHexString(SipHashVectors[32])), SipHash.Hash(ReferenceKey, words[0], words[1], words[2], words[3]));
        var key = new SipKey(0x0123456789abcdefUL, 0xfedcba9876543210UL);
        Assert.Equal(SipHash.Hash(key, message), SipHash.Hash(key, words[0], words[1], words[2], words[3]));
    }

    private static uint Isn(SipKey key, int slot, uint generation, uint target4 = 0x0A000002, ushort sourcePort = 40000, ushort targetPort = 80, uint source4 = 0x0A000001) =>
        SynPacket.InitialSequence(key, target4, source4, sourcePort, targetPort, slot, generation);

    [Fact]
    public void Sequence_numbers_of_consecutive_generations_of_a_slot_are_unrelated()
    {
        // The free list is LIFO, so generation g + 1 of the same slot is what an observer most often sees next.
        // A relation between them (a fixed XOR or difference, few bits changing) would let one ISN predict the next.
        var key = SipHash.NewKey();
        const int Pairs = 20_000;
        var xors = new HashSet<uint>();
        var differences = new HashSet<uint>();
        long bitsChanged = 0;
        for (int i = 0; i < Pairs; i++)
        {
            int slot = i % 100;
            uint generation = (uint)(i / 100);
            uint a = Isn(key, slot, generation);
            uint b = Isn(key, slot, generation + 1);
            xors.Add(a ^ b);
            differences.Add(b - a);
            bitsChanged += System.Numerics.BitOperations.PopCount(a ^ b);
        }

        double meanBits = (double)bitsChanged / Pairs;
        Assert.InRange(meanBits, 15.8, 16.2); // half of 32: a random function's
        Assert.True(xors.Count > Pairs * 0.99, $"{xors.Count} distinct XORs of {Pairs} pairs");
        Assert.True(differences.Count > Pairs * 0.99, $"{differences.Count} distinct differences of {Pairs} pairs");
    }

    [Fact]
    public void The_key_is_not_merely_mixed_into_the_input_of_a_public_function()
    {
        // With ISN = F(key ^ (slot << 32 | generation)) for a public F, a key and a generation that differ in
        // the same bit give the same ISN, and two ISNs of one slot give the key away by search. A keyed PRF
        // has no such relation: for no bit does flipping it in both the key and the input keep the ISN.
        var key = new SipKey(0x1234_5678_9abc_def0UL, 0x0fed_cba9_8765_4321UL);
        for (int bit = 0; bit < 32; bit++)
        {
            var flipped = key with { K0 = key.K0 ^ (1UL << bit) };
            Assert.NotEqual(Isn(key, 5, 7), Isn(flipped, 5, 7 ^ (1u << bit)));
        }

        Assert.NotEqual(Isn(key, 5, 7), Isn(key with { K1 = key.K1 ^ 1 }, 5, 7));
    }

    [Fact]
    public void Sequence_numbers_depend_on_the_whole_4_tuple()
    {
        // A reply acknowledges ISN + 1 only for the 4-tuple it was computed over: a SYN-ACK that a check of
        // another target (or port, or source) would accept does not acknowledge this one's.
        var key = SipHash.NewKey();
        uint isn = Isn(key, 5, 7);
        Assert.NotEqual(isn, Isn(key, 5, 7, target4: 0x0A000003));
        Assert.NotEqual(isn, Isn(key, 5, 7, targetPort: 81));
        Assert.NotEqual(isn, Isn(key, 5, 7, sourcePort: 40001));
        Assert.NotEqual(isn, Isn(key, 5, 7, source4: 0x7F000002));
        Assert.NotEqual(isn, Isn(key, 6, 7));
        Assert.NotEqual(isn, Isn(key, 5, 8));
        Assert.NotEqual(isn, Isn(SipHash.NewKey(), 5, 7));
        UInt128 v6 = System.Runtime.InteropServices.MemoryMarshal.Read<UInt128>(System.Net.IPAddress.IPv6Loopback.GetAddressBytes());
        Assert.NotEqual(SynPacket.InitialSequence(key, v6, 0, 40000, 80, 5, 7), SynPacket.InitialSequence(key, v6 ^ 1, 0, 40000, 80, 5, 7));
    }

    private static IEnumerable<Libc.SockFilter[]> Programs(PortRanges ports) =>
        [ReplyFilters.TcpV4(ports), ReplyFilters.TcpV6(ports), ReplyFilters.IcmpV4(ports), ReplyFilters.IcmpV6(ports)];

    [Fact]
    public void Every_filter_jump_lands_inside_its_program_and_the_largest_program_fits_classic_BPF()
    {
        // Every other port of the ephemeral range: far more ranges than a program holds, so it holds the most it may.
        PortRanges most = PortRanges.From(Enumerable.Range(0, 10_000).Select(i => (ushort)(32768 + (2 * i))), ReplyFilters.MaxRanges);
        Assert.Equal(ReplyFilters.MaxRanges, most.Count);
        foreach (PortRanges ports in new[] { PortRanges.Empty, PortRanges.From([1024, 1025, 2048], 8), most })
        {
            foreach (Libc.SockFilter[] program in Programs(ports))
            {
                Assert.InRange(program.Length, 1, 4096); // BPF_MAXINSNS
                Assert.Equal(0x06, program[^1].Code & 0x07); // ends with a return
                for (int i = 0; i < program.Length; i++)
                {
                    if (program[i].Code == 0x05)
                    {
                        Assert.InRange(i + 1 + (long)program[i].K, 0, program.Length - 1);
                    }
                    else if ((program[i].Code & 0x07) == 0x05)
                    {
                        Assert.InRange(i + 1 + program[i].JumpTrue, 0, program.Length - 1);
                        Assert.InRange(i + 1 + program[i].JumpFalse, 0, program.Length - 1);
                    }
                }
            }
        }
    }

    public static TheoryData<string> PortSets => new("one", "a run", "a run with holes", "scattered", "the ends of the port space");

    private static ushort[] PortSet(string name) => name switch
    {
        "one" => [40000],
        "a run" => [.. Enumerable.Range(40000, 200).Select(p => (ushort)p)],
        "a run with holes" => [.. Enumerable.Range(32768, 28232).Where(p => p % 211 != 0 && p % 307 != 3).Select(p => (ushort)p)],
        "scattered" => [.. Enumerable.Range(0, 300).Select(i => (ushort)(1024 + (i * 211 % 60000)))],
        _ => [0, 1, 65534, 65535],
    };

    [Theory]
    [MemberData(nameof(PortSets))]
    public void The_filters_keep_replies_to_exactly_the_reserved_ports(string set)
    {
        ushort[] reserved = PortSet(set);
        PortRanges ports = PortRanges.From(reserved, ReplyFilters.MaxRanges);
        Assert.Equal(0, ports.ExtraPorts);
        var expected = new HashSet<ushort>(reserved);
        Libc.SockFilter[] tcp4 = ReplyFilters.TcpV4(ports), tcp6 = ReplyFilters.TcpV6(ports), icmp4 = ReplyFilters.IcmpV4(ports), icmp6 = ReplyFilters.IcmpV6(ports);
        for (int port = 0; port <= ushort.MaxValue; port++)
        {
            bool keep = expected.Contains((ushort)port);
            Assert.True(keep == (Bpf.Run(tcp4, Packets.TcpV4((ushort)port, SynPacket.FlagSyn | SynPacket.FlagAck)) == ReplyFilters.TcpSnapLength), $"IPv4 SYN-ACK to {port}");
            Assert.True(keep == (Bpf.Run(tcp6, Packets.TcpV6((ushort)port, SynPacket.FlagRst)) == ReplyFilters.TcpSnapLength), $"IPv6 RST to {port}");
            Assert.True(keep == (Bpf.Run(icmp4, Packets.IcmpV4((ushort)port)) == ReplyFilters.IcmpSnapLength), $"ICMP quoting {port}");
            Assert.True(keep == (Bpf.Run(icmp6, Packets.IcmpV6((ushort)port)) == ReplyFilters.IcmpSnapLength), $"ICMPv6 quoting {port}");
        }
    }

    [Fact]
    public void The_filters_keep_only_SYN_ACK_and_RST_and_unreachable_and_no_fragment()
    {
        ushort port = 40000;
        PortRanges ports = PortRanges.From([port], 8);
        Assert.Equal(0u, Bpf.Run(ReplyFilters.TcpV4(ports), Packets.TcpV4(port, SynPacket.FlagSyn)));
        Assert.Equal(0u, Bpf.Run(ReplyFilters.TcpV4(ports), Packets.TcpV4(port, SynPacket.FlagAck)));
        Assert.Equal(0u, Bpf.Run(ReplyFilters.TcpV6(ports), Packets.TcpV6(port, SynPacket.FlagAck | 0x08)));
        Assert.Equal((uint)ReplyFilters.TcpSnapLength, Bpf.Run(ReplyFilters.TcpV4(ports), Packets.TcpV4(port, SynPacket.FlagRst | SynPacket.FlagAck)));
        byte[] fragment = Packets.TcpV4(port, SynPacket.FlagSyn | SynPacket.FlagAck);
        fragment[7] = 1; // fragment offset 8
        Assert.Equal(0u, Bpf.Run(ReplyFilters.TcpV4(ports), fragment));
        byte[] echo = Packets.IcmpV4(port);
        echo[20] = 0; // echo reply
        Assert.Equal(0u, Bpf.Run(ReplyFilters.IcmpV4(ports), echo));
        byte[] udp = Packets.IcmpV6(port);
        udp[14] = 17; // quoting UDP
        Assert.Equal(0u, Bpf.Run(ReplyFilters.IcmpV6(ports), udp));
        byte[] optioned = Packets.IcmpV4(port, innerHeaderLength: 24); // quoted IPv4 header with options
        Assert.Equal((uint)ReplyFilters.IcmpSnapLength, Bpf.Run(ReplyFilters.IcmpV4(ports), optioned));
    }

    [Fact]
    public void Past_the_most_ranges_a_program_holds_the_smallest_gaps_are_merged_and_counted()
    {
        // Pairs of ports with gaps of 1 to 5 between them, alternately: only the widest gaps stay.
        ushort[] reserved = [.. Enumerable.Range(0, 40).Select(i => (ushort)(30000 + (i * 4) + (i % 2 == 0 ? 0 : 1)))];
        PortRanges ports = PortRanges.From(reserved, 8);
        Assert.Equal(8, ports.Count);
        var set = new HashSet<ushort>(reserved);
        int passedUnreserved = 0;
        for (int port = 0; port <= ushort.MaxValue; port++)
        {
            bool passes = Bpf.Run(ReplyFilters.TcpV6(ports), Packets.TcpV6((ushort)port, SynPacket.FlagRst)) != 0;
            Assert.Equal(ports.Contains((ushort)port), passes);
            Assert.True(!set.Contains((ushort)port) || passes, $"reserved port {port} dropped");
            passedUnreserved += passes && !set.Contains((ushort)port) ? 1 : 0;
        }

        Assert.Equal(ports.ExtraPorts, passedUnreserved);
        Assert.InRange(passedUnreserved, 1, 4 * 40);
    }

    /// <summary>Packets as each raw socket's filter sees them: IPv4 sockets from the IP header, IPv6 ones from the transport header.</summary>
    private static class Packets
    {
        internal static byte[] TcpV4(ushort port, byte flags)
        {
            byte[] packet = new byte[40];
            packet[0] = 0x45;
            packet[9] = 6;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(20 + 2), port);
            packet[20 + 12] = 5 << 4;
            packet[20 + 13] = flags;
            return packet;
        }

        internal static byte[] TcpV6(ushort port, byte flags)
        {
            byte[] packet = new byte[20];
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), port);
            packet[12] = 5 << 4;
            packet[13] = flags;
            return packet;
        }

        internal static byte[] IcmpV4(ushort sourcePort, int innerHeaderLength = 20)
        {
            byte[] packet = new byte[20 + 8 + innerHeaderLength + 8];
            packet[0] = 0x45;
            packet[9] = 1;
            packet[20] = 3; // destination unreachable
            packet[21] = 1;
            packet[28] = (byte)(0x40 | (innerHeaderLength / 4));
            packet[28 + 9] = 6;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(28 + innerHeaderLength), sourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(28 + innerHeaderLength + 2), 80);
            return packet;
        }

        internal static byte[] IcmpV6(ushort sourcePort)
        {
            byte[] packet = new byte[8 + 40 + 8];
            packet[0] = 1; // destination unreachable
            packet[8] = 0x60;
            packet[8 + 6] = 6;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(48), sourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(50), 80);
            return packet;
        }
    }

    /// <summary>A classic BPF interpreter for the instructions the filters use, with the kernel's semantics (a load past the packet's end drops it).</summary>
    private static class Bpf
    {
        internal static uint Run(Libc.SockFilter[] program, byte[] packet)
        {
            uint a = 0, x = 0;
            for (int pc = 0, steps = 0; steps < 10_000; steps++)
            {
                Libc.SockFilter op = program[pc++];
                uint k = op.K;
                switch (op.Code)
                {
                    case 0x28: case 0x48: // ldh abs / ind
                        long h = op.Code == 0x28 ? k : x + k;
                        if (h + 2 > packet.Length) return 0;
                        a = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan((int)h));
                        break;
                    case 0x30: case 0x50: // ldb abs / ind
                        long b = op.Code == 0x30 ? k : x + k;
                        if (b + 1 > packet.Length) return 0;
                        a = packet[(int)b];
                        break;
                    case 0xb1: // ldx msh
                        if (k + 1 > packet.Length) return 0;
                        x = (uint)(4 * (packet[(int)k] & 0xf));
                        break;
                    case 0x54: a &= k; break;
                    case 0x64: a <<= (int)k; break;
                    case 0x0c: a += x; break;
                    case 0x07: x = a; break;
                    case 0x05: pc += (int)k; break;
                    case 0x15: pc += a == k ? op.JumpTrue : op.JumpFalse; break;
                    case 0x25: pc += a > k ? op.JumpTrue : op.JumpFalse; break;
                    case 0x35: pc += a >= k ? op.JumpTrue : op.JumpFalse; break;
                    case 0x45: pc += (a & k) != 0 ? op.JumpTrue : op.JumpFalse; break;
                    case 0x06: return k;
                    default: throw new InvalidOperationException($"instruction 0x{op.Code:x} not interpreted");
                }
            }

            throw new InvalidOperationException("no return within 10,000 steps");
        }
    }

    [Theory]
    [InlineData(0, Errno.ENETUNREACH)]
    [InlineData(1, Errno.EHOSTUNREACH)]
    [InlineData(3, Errno.ECONNREFUSED)]
    [InlineData(10, Errno.EHOSTUNREACH)]
    [InlineData(13, Errno.EHOSTUNREACH)]
    [InlineData(4, 0)] // fragmentation needed does not end a connect
    public void Icmp_unreachable_codes_give_the_errno_connect_would(byte code, int errno) =>
        Assert.Equal(errno, CheckErrors.IcmpUnreachableErrno(code));

    [Fact]
    public void The_metrics_and_span_tag_of_raw_SYN_mode_is_raw_syn() =>
        Assert.Equal(["half_open", "full_connect", "raw_syn"], Enum.GetValues<TcpShakerMode>().Select(Diagnostics.TcpShakerMetrics.ToTag));

    [Fact]
    public unsafe void Native_layouts_match_64_bit_Linux()
    {
        Assert.Equal(64, sizeof(Libc.MMsgHdr));
        Assert.Equal(16, sizeof(Libc.IoVec));
        Assert.Equal(8, sizeof(Libc.SockFilter));
        Assert.Equal(16, sizeof(Libc.SockFprog));
    }
}
