using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// Replies: SYN-ACK (open; the kernel has already answered it with RST), RST (refused), ICMP
/// destination unreachable. A reply counts only when its 4-tuple is a check's in flight and it
/// acknowledges (or, in an ICMP error, quotes) that check's own initial sequence number.
/// Reply checksums are not validated: loopback leaves them unfinished.
/// </summary>
internal sealed unsafe partial class RawSynTransport
{
    private const int ReceiveBatch = 64;
    private const int ReplyBufferSize = 192;

    /// <summary>Batches read per readable socket and iteration at the most, so deadlines and new checks are never kept waiting long.</summary>
    private const int MaxReceiveBatchesPerIteration = 16;

    private readonly PacketBatch _receive;
    private long _retransmissions;
    private long _unmatchedReplies;
    private long _repliesRead;

    private enum ReplyKind
    {
        TcpV4,
        TcpV6,
        IcmpV4,
        IcmpV6,
    }

    private void ReadReplies(int fd, ReplyKind kind)
    {
        for (int round = 0; round < MaxReceiveBatchesPerIteration; round++)
        {
            _receive.ResetForReceive();
            int count = Libc.RecvMMsg(fd, _receive.Messages, (uint)_receive.Capacity, Libc.MSG_DONTWAIT, null);
            if (count <= 0)
            {
                return; // EAGAIN: drained (EINTR: the next iteration reads on, the socket is still readable)
            }

            long now = Stopwatch.GetTimestamp();
            _repliesRead += count;
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<byte> packet = _receive.Buffer(i)[..(int)Math.Min(_receive.Messages[i].Length, ReplyBufferSize)];
                bool matched = kind switch
                {
                    ReplyKind.TcpV4 => OnTcpV4(packet, now),
                    ReplyKind.TcpV6 => OnTcpV6(packet, _receive.Name(i), now),
                    ReplyKind.IcmpV4 => OnIcmpV4(packet, now),
                    _ => OnIcmpV6(packet, now),
                };
                if (!matched)
                {
                    _unmatchedReplies++;
                }
            }

            if (count < _receive.Capacity)
            {
                return;
            }
        }
    }

    private bool OnTcpV4(ReadOnlySpan<byte> packet, long now)
    {
        if (packet.Length < 20)
        {
            return false;
        }

        int headerLength = (packet[0] & 15) * 4;
        if (packet.Length < headerLength + 14)
        {
            return false;
        }

        ReadOnlySpan<byte> tcp = packet[headerLength..];
        int slot = FindSlot(tcp, v6: false, BinaryPrimitives.ReadUInt32BigEndian(packet[12..]), BinaryPrimitives.ReadUInt32BigEndian(packet[16..]), default);
        return slot >= 0 && OnTcpReply(slot, tcp, now);
    }

    private bool OnTcpV6(ReadOnlySpan<byte> tcp, ReadOnlySpan<byte> name, long now)
    {
        if (tcp.Length < 14)
        {
            return false;
        }

        int slot = FindSlot(tcp, v6: true, 0, 0, MemoryMarshal.Read<UInt128>(name[8..]));
        return slot >= 0 && OnTcpReply(slot, tcp, now);
    }

    /// <summary>The check a reply's TCP header belongs to (its 4-tuple reversed: sender, receiver, ports), or -1.</summary>
    private int FindSlot(ReadOnlySpan<byte> tcp, bool v6, uint sender4, uint receiver4, UInt128 sender6) =>
        FindCheck(v6, receiver4, BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]), sender4, sender6, BinaryPrimitives.ReadUInt16BigEndian(tcp));

    /// <summary>The check in flight on a 4-tuple (local address and port, remote address and port), or -1: the whole 4-tuple, since a source port serves many destinations.</summary>
    private int FindCheck(bool v6, uint source4, ushort sourcePort, uint target4, UInt128 target6, ushort targetPort) =>
        _ports.FindSlot(new FlowKey(new DestinationKey(v6 ? target6 : target4, targetPort, v6), v6 ? 0 : source4, sourcePort));

    private bool OnTcpReply(int slot, ReadOnlySpan<byte> tcp, long now)
    {
        byte flags = tcp[13];
        if ((flags & SynPacket.FlagAck) == 0 || BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]) != unchecked(_slots[slot].Sequence + 1))
        {
            return false;
        }

        // SYN-ACK: open (the kernel, which owns no socket for this 4-tuple, has already sent the RST). RST: refused.
        _accounting.Finish(Release(slot), (flags & SynPacket.FlagRst) != 0 ? Errno.ECONNREFUSED : 0, now);
        return true;
    }

    private bool OnIcmpV4(ReadOnlySpan<byte> packet, long now)
    {
        if (packet.Length < 20)
        {
            return false;
        }

        int outer = (packet[0] & 15) * 4;
        if (packet.Length < outer + 8 + 20 || packet[outer] != 3)
        {
            return false;
        }

        ReadOnlySpan<byte> inner = packet[(outer + 8)..];
        int innerLength = (inner[0] & 15) * 4;
        if (inner[9] != Libc.IPPROTO_TCP || inner.Length < innerLength + 8)
        {
            return false;
        }

        return OnQuotedSyn(inner[innerLength..], v6: false, BinaryPrimitives.ReadUInt32BigEndian(inner[12..]), BinaryPrimitives.ReadUInt32BigEndian(inner[16..]), default, CheckErrors.IcmpUnreachableErrno(packet[outer + 1]), now);
    }

    private bool OnIcmpV6(ReadOnlySpan<byte> icmp, long now)
    {
        // ICMPv6 header (8), the quoted IPv6 header (40), the quoted TCP header's first 8 bytes.
        if (icmp.Length < 8 + 40 + 8 || icmp[0] != 1 || icmp[8 + 6] != Libc.IPPROTO_TCP)
        {
            return false;
        }

        return OnQuotedSyn(icmp[48..], v6: true, 0, 0, MemoryMarshal.Read<UInt128>(icmp[(8 + 24)..]), CheckErrors.Icmp6UnreachableErrno(icmp[1]), now);
    }

    /// <summary>An ICMP error quoting one of our SYNs: source port, destination, and sequence number must all be the check's.</summary>
    private bool OnQuotedSyn(ReadOnlySpan<byte> tcp, bool v6, uint source4, uint target4, UInt128 target6, int errno, long now)
    {
        int slot = errno == 0 ? -1 : FindCheck(v6, source4, BinaryPrimitives.ReadUInt16BigEndian(tcp), target4, target6, BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]));
        if (slot < 0 || _slots[slot].Sequence != BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]))
        {
            return false;
        }

        _accounting.Finish(Release(slot), errno, now);
        return true;
    }
}
