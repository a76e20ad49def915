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

    [Fact]
    public void Sequence_numbers_differ_by_slot_generation_and_key()
    {
        var seen = new HashSet<uint>();
        for (int slot = 0; slot < 100; slot++)
        {
            for (uint generation = 0; generation < 100; generation++)
            {
                seen.Add(SynPacket.InitialSequence(0x1234_5678_9abc_def0, slot, generation));
            }
        }

        Assert.True(seen.Count >= 9_990, $"{seen.Count} distinct of 10,000");
        Assert.NotEqual(SynPacket.InitialSequence(1, 5, 7), SynPacket.InitialSequence(2, 5, 7));
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
