using System.Buffers.Binary;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Tests;

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

    [Fact]
    public void Every_filter_jump_lands_inside_its_program_on_a_return()
    {
        foreach (Libc.SockFilter[] program in new[] { ReplyFilters.TcpV4(1024, 2048), ReplyFilters.TcpV6(1024, 2048), ReplyFilters.IcmpV4() })
        {
            Assert.Equal(0x06, program[^1].Code & 0x07); // ends with a return
            for (int i = 0; i < program.Length; i++)
            {
                if ((program[i].Code & 0x07) == 0x05)
                {
                    Assert.InRange(i + 1 + program[i].JumpTrue, 0, program.Length - 1);
                    Assert.InRange(i + 1 + program[i].JumpFalse, 0, program.Length - 1);
                }
            }
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
