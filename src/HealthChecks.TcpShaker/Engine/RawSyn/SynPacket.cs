using System.Buffers.Binary;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The SYN the raw engine sends: a 24-byte TCP header (an MSS option, as the kernel's own SYN has),
/// its checksum, and the initial sequence number that identifies the check in the reply.
/// </summary>
internal static class SynPacket
{
    /// <summary>Bytes of the TCP header sent (20 + the 4-byte MSS option).</summary>
    internal const int Length = 24;

    /// <summary>Offset of the checksum in the TCP header: the kernel fills it on IPv6 (<c>IPV6_CHECKSUM</c>).</summary>
    internal const int ChecksumOffset = 16;

    internal const byte FlagRst = 0x04;
    internal const byte FlagSyn = 0x02;
    internal const byte FlagAck = 0x10;

    /// <summary>
    /// The initial sequence number of a check: SipHash-2-4 under the engine's secret key of the check's
    /// 4-tuple (as the kernel's <c>secure_tcp_seq</c>), its slot and generation. A reply counts only when it
    /// acknowledges this + 1, so a stale reply (an earlier check on the same 4-tuple) or a forged one (a
    /// host that can spoof the target but not read the SYN) is not taken for an answer: without the key,
    /// sequence numbers seen on the wire say nothing about the next one.
    /// </summary>
    /// <param name="key">The engine's key.</param>
    /// <param name="target">The target address: an IPv6 address as read from its 16 bytes, or an IPv4 one as its big-endian number.</param>
    /// <param name="source4">The IPv4 source address (0 on IPv6, where the kernel picks it).</param>
    /// <param name="sourcePort">The source port.</param>
    /// <param name="targetPort">The target port.</param>
    /// <param name="slot">The check's slot in the loop's table.</param>
    /// <param name="generation">The slot's generation (a new one for each check the slot holds).</param>
    internal static uint InitialSequence(SipKey key, UInt128 target, uint source4, ushort sourcePort, ushort targetPort, int slot, uint generation) =>
        (uint)SipHash.Hash(
            key,
            (ulong)target,
            (ulong)(target >> 64),
            source4 | ((ulong)sourcePort << 32) | ((ulong)targetPort << 48),
            (uint)slot | ((ulong)generation << 32));

    /// <summary>Writes a SYN from <paramref name="sourcePort"/> to <paramref name="destinationPort"/>, checksum zero.</summary>
    internal static void Write(Span<byte> tcp, ushort sourcePort, ushort destinationPort, uint sequence)
    {
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 0);
        tcp[12] = 6 << 4; // data offset: 6 words
        tcp[13] = FlagSyn;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 64240);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[16..], 0); // checksum, urgent pointer
        tcp[20] = 2; // MSS, length 4, 1460
        tcp[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], 1460);
    }

    /// <summary>
    /// Fills the TCP checksum over the IPv4 pseudo-header (the kernel checks it on receipt, also on
    /// loopback). Addresses as the 32-bit big-endian numbers read from their bytes.
    /// </summary>
    internal static void WriteChecksumV4(Span<byte> tcp, uint source, uint destination)
    {
        uint sum = (source >> 16) + (source & 0xffff) + (destination >> 16) + (destination & 0xffff) + 6 + Length;
        for (int i = 0; i < Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(tcp[i..]);
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        BinaryPrimitives.WriteUInt16BigEndian(tcp[ChecksumOffset..], (ushort)~sum);
    }
}
