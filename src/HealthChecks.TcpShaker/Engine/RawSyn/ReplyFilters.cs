using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The classic BPF programs attached to the raw sockets (<c>SO_ATTACH_FILTER</c>). A raw TCP socket
/// gets a copy of every TCP packet of the network namespace; the filter keeps, in the kernel, only
/// SYN-ACKs and RSTs to the reserved source ports, and only their first bytes. A raw ICMP socket keeps
/// only "destination unreachable". Each raw TCP socket both sends and receives, so the filter is also what
/// keeps the sending socket from queueing copies of every TCP packet.
/// </summary>
internal static unsafe class ReplyFilters
{
    private const ushort LdH = 0x28;   // BPF_LD | BPF_H | BPF_ABS
    private const ushort LdB = 0x30;   // BPF_LD | BPF_B | BPF_ABS
    private const ushort LdHInd = 0x48; // BPF_LD | BPF_H | BPF_IND
    private const ushort LdBInd = 0x50; // BPF_LD | BPF_B | BPF_IND
    private const ushort LdxMsh = 0xb1; // BPF_LDX | BPF_B | BPF_MSH: x = 4 * (byte & 0xf), the IPv4 header length
    private const ushort AndK = 0x54;  // BPF_ALU | BPF_AND | BPF_K
    private const ushort JeqK = 0x15;
    private const ushort JgtK = 0x25;
    private const ushort JgeK = 0x35;
    private const ushort JsetK = 0x45;
    private const ushort RetK = 0x06;

    /// <summary>Bytes of a reply kept: up to the IPv4 header's maximum (60) plus the TCP header's first 20.</summary>
    internal const int TcpSnapLength = 80;

    /// <summary>Bytes of an ICMP error kept: two IPv4 headers at their maximum, the ICMP header and 8 bytes of TCP.</summary>
    internal const int IcmpSnapLength = 136;

    private static Libc.SockFilter S(ushort code, uint k) => new() { Code = code, K = k };

    private static Libc.SockFilter J(ushort code, uint k, byte jumpTrue, byte jumpFalse) => new() { Code = code, K = k, JumpTrue = jumpTrue, JumpFalse = jumpFalse };

    /// <summary>IPv4: the program sees the IP header first. Keeps unfragmented SYN-ACK or RST to a port in [low, high].</summary>
    internal static Libc.SockFilter[] TcpV4(ushort low, ushort high) =>
    [
        S(LdH, 6),                       // 0 fragment offset and flags
        J(JsetK, 0x1fff, 8, 0),          // 1 a fragment: drop
        S(LdxMsh, 0),                    // 2 x = IP header length
        S(LdHInd, 2),                    // 3 TCP destination port
        J(JgeK, low, 0, 5),              // 4
        J(JgtK, high, 4, 0),             // 5
        S(LdBInd, 13),                   // 6 TCP flags
        J(JsetK, SynPacket.FlagRst, 3, 0), // 7 RST: keep
        S(AndK, SynPacket.FlagSyn | SynPacket.FlagAck), // 8
        J(JeqK, SynPacket.FlagSyn | SynPacket.FlagAck, 1, 0), // 9 SYN-ACK: keep
        S(RetK, 0),                      // 10 drop
        S(RetK, TcpSnapLength),          // 11 keep
    ];

    /// <summary>IPv6: the program sees the TCP header first.</summary>
    internal static Libc.SockFilter[] TcpV6(ushort low, ushort high) =>
    [
        S(LdH, 2),                       // 0 TCP destination port
        J(JgeK, low, 0, 5),              // 1
        J(JgtK, high, 4, 0),             // 2
        S(LdB, 13),                      // 3 TCP flags
        J(JsetK, SynPacket.FlagRst, 3, 0), // 4 RST: keep
        S(AndK, SynPacket.FlagSyn | SynPacket.FlagAck), // 5
        J(JeqK, SynPacket.FlagSyn | SynPacket.FlagAck, 1, 0), // 6 SYN-ACK: keep
        S(RetK, 0),                      // 7 drop
        S(RetK, TcpSnapLength),          // 8 keep
    ];

    /// <summary>ICMP (IPv4): keeps type 3, destination unreachable.</summary>
    internal static Libc.SockFilter[] IcmpV4() =>
    [
        S(LdxMsh, 0),                    // 0 x = IP header length
        S(LdBInd, 0),                    // 1 ICMP type
        J(JeqK, 3, 0, 1),                // 2
        S(RetK, IcmpSnapLength),         // 3 keep
        S(RetK, 0),                      // 4 drop
    ];

    /// <summary>Attaches (or replaces) <paramref name="program"/> on <paramref name="fd"/>; returns errno or 0.</summary>
    internal static int Attach(int fd, Libc.SockFilter[] program)
    {
        fixed (Libc.SockFilter* code = program)
        {
            Libc.SockFprog fprog = new() { Length = (ushort)program.Length, Filter = code };
            return Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_ATTACH_FILTER, &fprog, sizeof(Libc.SockFprog)) == 0 ? 0 : Libc.LastErrno;
        }
    }
}
