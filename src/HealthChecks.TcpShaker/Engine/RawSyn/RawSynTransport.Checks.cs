using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>A check's life: a source port, a SYN, its retransmissions, and its end.</summary>
internal sealed unsafe partial class RawSynTransport
{
    /// <summary>The first retransmission comes after this, each next one after twice the last (the kernel's SYN schedule: 1 s, 2 s, 4 s...).</summary>
    internal static readonly TimeSpan InitialRetransmission = TimeSpan.FromSeconds(1);

    /// <summary>Retransmissions sent in one iteration at the most: a wave of them is spread over iterations (a burst would overflow the receive buffers).</summary>
    private const int MaxRetransmissionsPerIteration = 256;

    private const uint LoopbackV4 = 0x7F000001;
    private static readonly UInt128 Ipv6Loopback = MemoryMarshal.Read<UInt128>(IPAddress.IPv6Loopback.GetAddressBytes());

    private CheckLoop _loop = null!;
    private InFlightTable _inFlight = null!;
    private DeadlineHeap _deadlines = null!;
    private readonly SourcePortPool _ports;
    private readonly SourceAddressCache _sources = new(); // first of the loop's descriptors: nothing else is open if it throws
    private readonly PacketBatch _sendV4;
    private readonly PacketBatch _sendV6;
    private RawSlot[] _slots = [];

    /// <summary>What the loop keeps per check beside <see cref="InFlightTable"/>: the 4-tuple, the sequence number, the schedule.</summary>
    private struct RawSlot
    {
        internal bool V6;
        internal byte Lane;
        internal ushort SourcePort;
        internal int Reservation; // the pool's reservation behind SourcePort
        internal ushort TargetPort;
        internal uint Source4; // IPv4: the address the SYN goes out from (the route's, or a lane's); 0 for IPv6
        internal uint Target4;
        internal UInt128 Target6;
        internal uint ScopeId;
        internal uint Sequence;
        internal long FinalDeadline;
        internal int Sends;
    }

    /// <inheritdoc/>
    public void Start(LoopCheck check)
    {
        long now = Stopwatch.GetTimestamp();
        IPAddress address = check.EndPoint.Address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        RawSlot raw = new() { TargetPort = (ushort)check.EndPoint.Port, FinalDeadline = check.Deadline };
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && !address.IsIPv4MappedToIPv6)
        {
            if (_tcp6 < 0)
            {
                _accounting.Finish(check, _tcp6Errno, now);
                return;
            }

            if (bytes[0] == 0xff)
            {
                _accounting.Finish(check, Errno.ENETUNREACH, now); // multicast: connect() refuses it so, and nothing is sent
                return;
            }

            raw.V6 = true;
            raw.Target6 = address.Equals(IPAddress.IPv6Any) ? Ipv6Loopback : MemoryMarshal.Read<UInt128>(bytes); // [::] is this host to connect(), as ::1
            raw.ScopeId = (uint)address.ScopeId;
        }
        else
        {
            raw.Target4 = BinaryPrimitives.ReadUInt32BigEndian(address.AddressFamily == AddressFamily.InterNetwork ? bytes : bytes[12..]);
            if (raw.Target4 >> 28 == 0xE)
            {
                _accounting.Finish(check, Errno.ENETUNREACH, now); // multicast: connect() refuses it so, and nothing is sent
                return;
            }

            if (raw.Target4 == 0)
            {
                raw.Target4 = LoopbackV4; // 0.0.0.0 is this host to connect(): it goes to 127.0.0.1
            }

            // A broadcast address fails here (ENETUNREACH, as connect() does), before anything is sent.
            int routeErrno = _sources.TryGet(raw.Target4, now, out raw.Source4);
            if (routeErrno != 0)
            {
                _accounting.Finish(check, routeErrno, now);
                return;
            }
        }

        bool loopbackLanes = !raw.V6 && SourcePortPool.MayUseLoopbackLanes(raw.Target4, raw.Source4);
        int slot = _inFlight.Add(-1, check); // no socket: the fd field stays -1
        int errno = _ports.TryTake(Destination(raw), raw.Source4, loopbackLanes, slot, out HeldSource source);
        FollowReservations(); // before the SYN: its reply must pass the filter

        if (errno != 0)
        {
            _inFlight.Remove(slot);
            if (errno == SourcePortPool.NoSourceLeft)
            {
                _accounting.Complete(check, CheckErrors.SourcePortLimitReached(check.EndPoint, Stopwatch.GetElapsedTime(check.RequestedAt, now)));
            }
            else
            {
                _accounting.Finish(check, errno, now);
            }

            return;
        }

        raw.Lane = source.Lane;
        raw.SourcePort = source.Port;
        raw.Reservation = source.Reservation;
        raw.Source4 = source.Local4;
        if (slot >= _slots.Length)
        {
            Array.Resize(ref _slots, _inFlight.Capacity);
        }

        raw.Sequence = SynPacket.InitialSequence(_key, raw.V6 ? raw.Target6 : raw.Target4, raw.Source4, raw.SourcePort, raw.TargetPort, slot, _inFlight[slot].Generation);
        raw.Sends = 1;
        _slots[slot] = raw;
        check.Slot = slot;
        _inFlight[slot].Deadline = Math.Min(now + Ticks(InitialRetransmission), raw.FinalDeadline);
        _deadlines.Add(slot);
        QueueSyn(slot);
    }

    /// <summary>Adds the SYN of <paramref name="slot"/> to its family's batch, sending the batch first if it is full.</summary>
    private void QueueSyn(int slot)
    {
        ref RawSlot raw = ref _slots[slot];
        PacketBatch batch = raw.V6 ? _sendV6 : _sendV4;
        if (batch.Count == batch.Capacity)
        {
            Flush(batch, raw.V6 ? _tcp6 : _tcp4);
        }

        int index = batch.Count++;
        batch.Slots[index] = slot;
        batch.Generations[index] = _inFlight[slot].Generation;
        Span<byte> packet = batch.Buffer(index);
        SynPacket.Write(packet, raw.SourcePort, raw.TargetPort, raw.Sequence);
        Span<byte> name = batch.Name(index);
        name.Clear();
        if (raw.V6)
        {
            // sockaddr_in6 with port 0 (a raw socket's protocol); the kernel fills the checksum.
            MemoryMarshal.Write(name, (ushort)Libc.AF_INET6);
            MemoryMarshal.Write(name[8..], raw.Target6);
            MemoryMarshal.Write(name[24..], raw.ScopeId);
            batch.SetOutgoing(index, SynPacket.Length, 28);
        }
        else
        {
            SynPacket.WriteChecksumV4(packet, raw.Source4, raw.Target4);
            MemoryMarshal.Write(name, (ushort)Libc.AF_INET);
            BinaryPrimitives.WriteUInt32BigEndian(name[4..], raw.Target4);
            batch.SetOutgoing(index, SynPacket.Length, 16);
            if (raw.Lane != 0)
            {
                batch.SetSourceV4(index, raw.Source4); // a loopback lane: not the route's address
            }
        }
    }

    /// <inheritdoc/>
    public void Flush()
    {
        Flush(_sendV4, _tcp4);
        Flush(_sendV6, _tcp6);
    }

    /// <summary>
    /// Sends a batch with <c>sendmmsg</c>. A message the kernel refuses ends its check with that errno, as
    /// <c>connect()</c> would have (EPERM from a firewall, ENETUNREACH); a full send buffer (ENOBUFS, EAGAIN)
    /// counts as a lost SYN, which the retransmission covers.
    /// </summary>
    private void Flush(PacketBatch batch, int fd)
    {
        int next = 0;
        while (next < batch.Count)
        {
            int sent = Libc.SendMMsg(fd, batch.Messages + next, (uint)(batch.Count - next), 0);
            if (sent > 0)
            {
                next += sent;
                continue;
            }

            int errno = sent < 0 ? Libc.LastErrno : Errno.EAGAIN;
            if (errno == Errno.EINTR)
            {
                continue;
            }

            int slot = batch.Slots[next];
            if (errno is not (Errno.EAGAIN or Errno.ENOBUFS) && _inFlight[slot].Check is not null && _inFlight[slot].Generation == batch.Generations[next])
            {
                _accounting.Finish(Release(slot), errno, Stopwatch.GetTimestamp());
            }

            next++;
        }

        batch.Count = 0;
    }

    /// <summary>Ends the checks whose deadline has come, and sends again the SYNs due for it (at most <see cref="MaxRetransmissionsPerIteration"/>).</summary>
    private void ExpireAndRetransmit(long now)
    {
        int retransmitted = 0;
        while (_deadlines.Count > 0 && _deadlines.NearestDeadline <= now)
        {
            int slot = _deadlines.NearestSlot;
            ref RawSlot raw = ref _slots[slot];
            if (raw.FinalDeadline <= now)
            {
                if (!raw.V6 && raw.Lane == 0)
                {
                    _sources.OnTimeout(raw.Target4); // a stale source address shows as timeouts: look it up again soon
                }

                LoopCheck check = Release(slot);
                _accounting.Complete(check, CheckErrors.DeadlineReached(check.EndPoint, Stopwatch.GetElapsedTime(check.RequestedAt, now)));
                continue;
            }

            if (retransmitted == MaxRetransmissionsPerIteration)
            {
                break; // the rest are due: the next iteration comes at once
            }

            _deadlines.Remove(slot);
            _inFlight[slot].Deadline = Math.Min(now + (Ticks(InitialRetransmission) << raw.Sends), raw.FinalDeadline);
            raw.Sends++;
            _deadlines.Add(slot);
            QueueSyn(slot);
            retransmitted++;
            _retransmissions++;
        }
    }

    /// <summary>Takes a check out of the loop, and gives its source back.</summary>
    public LoopCheck Release(int slot)
    {
        ref RawSlot raw = ref _slots[slot];
        _ports.Return(Destination(raw), new HeldSource(raw.Lane, raw.SourcePort, raw.Reservation, raw.Source4));
        return _loop.Remove(slot);
    }

    /// <summary>What the check in a slot is of, as the port pool keys it.</summary>
    private static DestinationKey Destination(in RawSlot raw) => new(raw.V6 ? raw.Target6 : raw.Target4, raw.TargetPort, raw.V6);

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}
