using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The classic BPF programs attached to the raw sockets (<c>SO_ATTACH_FILTER</c>). A raw TCP socket
/// gets a copy of every TCP packet of the network namespace; its filter keeps, in the kernel, only
/// SYN-ACKs and RSTs whose destination port is one of the reserved ports, and only their first bytes.
/// The ICMP sockets keep only "destination unreachable" quoting a TCP segment from a reserved port.
/// Each raw TCP socket both sends and receives, so the filter is also what keeps the sending socket
/// from queueing copies of every TCP packet.
/// </summary>
/// <remarks>
/// Classic BPF has no table lookup, so the reserved ports are matched as sorted, disjoint ranges by a
/// binary search compiled into the program: about 6 instructions a range, 2 log2(ranges) + 6 run per
/// packet. The pool reserves runs of consecutive ports, so a few ranges are usual; when there are more
/// than a program may hold (<see cref="MaxRanges"/>, or fewer if the kernel refuses the program's
/// size), the ranges separated by the smallest gaps are merged and those gap ports pass too
/// (<see cref="PortRanges.ExtraPorts"/> counts them). Nothing is lost by that: a reply still counts only
/// when its 4-tuple and acknowledgment number are a check's, and the filter is exact again as soon as
/// the ports fit. Loop thread only.
/// </remarks>
internal static unsafe class ReplyFilters
{
    private const ushort LdH = 0x28;    // BPF_LD | BPF_H | BPF_ABS
    private const ushort LdB = 0x30;    // BPF_LD | BPF_B | BPF_ABS
    private const ushort LdHInd = 0x48; // BPF_LD | BPF_H | BPF_IND
    private const ushort LdBInd = 0x50; // BPF_LD | BPF_B | BPF_IND
    private const ushort LdxMsh = 0xb1; // BPF_LDX | BPF_B | BPF_MSH: x = 4 * (byte & 0xf), the IPv4 header length
    private const ushort AndK = 0x54;   // BPF_ALU | BPF_AND | BPF_K
    private const ushort LshK = 0x64;   // BPF_ALU | BPF_LSH | BPF_K
    private const ushort AddX = 0x0c;   // BPF_ALU | BPF_ADD | BPF_X
    private const ushort Tax = 0x07;    // BPF_MISC | BPF_TAX
    private const ushort Ja = 0x05;     // BPF_JMP | BPF_JA: a 32-bit offset, where a conditional jump has 8 bits
    private const ushort JeqK = 0x15;
    private const ushort JgtK = 0x25;
    private const ushort JgeK = 0x35;
    private const ushort JsetK = 0x45;
    private const ushort RetK = 0x06;

    /// <summary>Port ranges a program holds at the most: about 3,100 instructions, under classic BPF's 4,096.</summary>
    internal const int MaxRanges = 512;

    /// <summary>Bytes of a reply kept: up to the IPv4 header's maximum (60) plus the TCP header's first 20.</summary>
    internal const int TcpSnapLength = 80;

    /// <summary>Bytes of an ICMP error kept: two IPv4 headers at their maximum, the ICMP header and 8 bytes of TCP.</summary>
    internal const int IcmpSnapLength = 136;

    private static Libc.SockFilter S(ushort code, uint k) => new() { Code = code, K = k };

    private static Libc.SockFilter J(ushort code, uint k, byte jumpTrue, byte jumpFalse) => new() { Code = code, K = k, JumpTrue = jumpTrue, JumpFalse = jumpFalse };

    /// <summary>IPv4: the program sees the IP header first. Keeps unfragmented SYN-ACK or RST to a port in <paramref name="ports"/>.</summary>
    internal static Libc.SockFilter[] TcpV4(PortRanges ports) => Build(
        [
            S(LdH, 6),                       // 0 fragment offset and flags
            J(JsetK, 0x1fff, 5, 0),          // 1 a fragment: drop
            S(LdxMsh, 0),                    // 2 x = IP header length
            S(LdBInd, 13),                   // 3 TCP flags
            J(JsetK, SynPacket.FlagRst, 3, 0), // 4 RST: to the port
            S(AndK, SynPacket.FlagSyn | SynPacket.FlagAck), // 5
            J(JeqK, SynPacket.FlagSyn | SynPacket.FlagAck, 1, 0), // 6 SYN-ACK: to the port
            S(RetK, 0),                      // 7 drop
            S(LdHInd, 2),                    // 8 TCP destination port
        ],
        ports,
        TcpSnapLength);

    /// <summary>IPv6: the program sees the TCP header first.</summary>
    internal static Libc.SockFilter[] TcpV6(PortRanges ports) => Build(
        [
            S(LdB, 13),                      // 0 TCP flags
            J(JsetK, SynPacket.FlagRst, 3, 0), // 1 RST: to the port
            S(AndK, SynPacket.FlagSyn | SynPacket.FlagAck), // 2
            J(JeqK, SynPacket.FlagSyn | SynPacket.FlagAck, 1, 0), // 3 SYN-ACK: to the port
            S(RetK, 0),                      // 4 drop
            S(LdH, 2),                       // 5 TCP destination port
        ],
        ports,
        TcpSnapLength);

    /// <summary>ICMP (IPv4, the IP header first): keeps type 3, destination unreachable, quoting TCP from a port in <paramref name="ports"/>.</summary>
    internal static Libc.SockFilter[] IcmpV4(PortRanges ports) => Build(
        [
            S(LdxMsh, 0),                    // 0 x = IP header length
            S(LdBInd, 0),                    // 1 ICMP type
            J(JeqK, 3, 0, 2),                // 2 destination unreachable, else drop
            S(LdBInd, 8 + 9),                // 3 the quoted IP header's protocol
            J(JeqK, Libc.IPPROTO_TCP, 1, 0), // 4 TCP, else drop
            S(RetK, 0),                      // 5 drop
            S(LdBInd, 8),                    // 6 the quoted IP header's version and length
            S(AndK, 0xf),                    // 7
            S(LshK, 2),                      // 8 its length in bytes
            S(AddX, 0),                      // 9 plus the outer header's
            S(Tax, 0),                       // 10
            S(LdHInd, 8),                    // 11 the quoted TCP source port
        ],
        ports,
        IcmpSnapLength);

    /// <summary>ICMPv6 (the ICMPv6 header first): keeps type 1, destination unreachable, quoting TCP (no extension header, as the SYN has none) from a port in <paramref name="ports"/>.</summary>
    internal static Libc.SockFilter[] IcmpV6(PortRanges ports) => Build(
        [
            S(LdB, 0),                       // 0 ICMPv6 type
            J(JeqK, 1, 0, 2),                // 1 destination unreachable, else drop
            S(LdB, 8 + 6),                   // 2 the quoted IPv6 header's next header
            J(JeqK, Libc.IPPROTO_TCP, 1, 0), // 3 TCP, else drop
            S(RetK, 0),                      // 4 drop
            S(LdH, 8 + 40),                  // 5 the quoted TCP source port
        ],
        ports,
        IcmpSnapLength);

    /// <summary>A program that keeps nothing, for a raw socket that only sends or looks routes up.</summary>
    internal static Libc.SockFilter[] DropAll() => [S(RetK, 0)];

    /// <summary>
    /// The program: <paramref name="head"/>, which leaves the port in A (or drops), then a binary search of
    /// <paramref name="ports"/> that returns <paramref name="keep"/> for a port in one of the ranges and 0 otherwise.
    /// </summary>
    private static Libc.SockFilter[] Build(Libc.SockFilter[] head, PortRanges ports, uint keep)
    {
        var program = new List<Libc.SockFilter>(head.Length + (6 * ports.Count));
        program.AddRange(head);
        if (ports.Count == 0)
        {
            program.Add(S(RetK, 0));
        }
        else
        {
            EmitSearch(program, ports, 0, ports.Count - 1, keep);
        }

        return [.. program];
    }

    private static void EmitSearch(List<Libc.SockFilter> program, PortRanges ports, int first, int last, uint keep)
    {
        if (first == last)
        {
            (ushort low, ushort high) = ports[first];
            program.Add(J(JgeK, low, 0, 2));  // below the range: drop
            program.Add(J(JgtK, high, 1, 0)); // above it: drop
            program.Add(S(RetK, keep));
            program.Add(S(RetK, 0));
            return;
        }

        int middle = (first + last) / 2;
        program.Add(J(JgtK, ports[middle].High, 0, 1)); // above the left half's last range: jump over the left half
        int jump = program.Count;
        program.Add(default);
        EmitSearch(program, ports, first, middle, keep);
        program[jump] = S(Ja, (uint)(program.Count - jump - 1));
        EmitSearch(program, ports, middle + 1, last, keep);
    }

    /// <summary>Attaches (or atomically replaces) <paramref name="program"/> on <paramref name="fd"/>; returns errno or 0.</summary>
    internal static int Attach(int fd, Libc.SockFilter[] program)
    {
        fixed (Libc.SockFilter* code = program)
        {
            Libc.SockFprog fprog = new() { Length = (ushort)program.Length, Filter = code };
            return Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_ATTACH_FILTER, &fprog, sizeof(Libc.SockFprog)) == 0 ? 0 : Libc.LastErrno;
        }
    }
}

/// <summary>
/// A set of ports as sorted, disjoint, non-adjacent ranges, at most a given number of them: when the
/// ports need more, the ranges with the smallest gaps between them are merged, and <see cref="ExtraPorts"/>
/// counts the ports of those gaps (not in the set, yet inside a range).
/// </summary>
internal sealed class PortRanges
{
    private readonly List<(ushort Low, ushort High)> _ranges;

    private PortRanges(List<(ushort Low, ushort High)> ranges, int extraPorts)
    {
        _ranges = ranges;
        ExtraPorts = extraPorts;
    }

    /// <summary>No port at all.</summary>
    internal static PortRanges Empty { get; } = new([], 0);

    /// <summary>Ranges.</summary>
    internal int Count => _ranges.Count;

    /// <summary>Ports inside a range that are not in the set (0: the ranges are the set exactly).</summary>
    internal int ExtraPorts { get; }

    internal (ushort Low, ushort High) this[int index] => _ranges[index];

    /// <summary>Whether <paramref name="port"/> is inside one of the ranges.</summary>
    internal bool Contains(ushort port)
    {
        int low = 0;
        int high = _ranges.Count - 1;
        while (low <= high)
        {
            int middle = (low + high) / 2;
            if (port < _ranges[middle].Low)
            {
                high = middle - 1;
            }
            else if (port > _ranges[middle].High)
            {
                low = middle + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The ranges of <paramref name="ports"/> (any order, duplicates allowed), at most <paramref name="maxRanges"/> of them.</summary>
    internal static PortRanges From(IEnumerable<ushort> ports, int maxRanges)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRanges, 1);
        var ranges = new List<(ushort Low, ushort High)>();
        foreach (ushort port in ports.Order())
        {
            if (ranges.Count > 0 && port <= ranges[^1].High + 1)
            {
                ranges[^1] = (ranges[^1].Low, Math.Max(ranges[^1].High, port));
            }
            else
            {
                ranges.Add((port, port));
            }
        }

        int extra = 0;
        if (ranges.Count > maxRanges)
        {
            // Keep the (maxRanges - 1) widest gaps; every other gap is merged over.
            int[] gapOrder = [.. Enumerable.Range(0, ranges.Count - 1).OrderByDescending(i => ranges[i + 1].Low - ranges[i].High).ThenBy(i => i)];
            var kept = new HashSet<int>(gapOrder.Take(maxRanges - 1));
            var merged = new List<(ushort Low, ushort High)>(maxRanges) { ranges[0] };
            for (int i = 0; i < ranges.Count - 1; i++)
            {
                if (kept.Contains(i))
                {
                    merged.Add(ranges[i + 1]);
                }
                else
                {
                    extra += ranges[i + 1].Low - ranges[i].High - 1;
                    merged[^1] = (merged[^1].Low, ranges[i + 1].High);
                }
            }

            ranges = merged;
        }

        return new PortRanges(ranges, extra);
    }
}
