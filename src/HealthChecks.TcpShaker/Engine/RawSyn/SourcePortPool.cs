using System.Globalization;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The source ports raw SYNs go out from, and which check holds each 4-tuple. Each port is reserved
/// by an ordinary TCP socket bound to the wildcard address (dual-stack where IPv6 exists) without
/// <c>SO_REUSEADDR</c>, never listening or connecting: the kernel's own <c>connect()</c> never picks a
/// port bound this way, nobody else can bind it, and a SYN-ACK arriving for it finds no connection, so
/// the kernel answers it with RST. Ports come from the kernel's ephemeral range (so no service port
/// such as 8080 is taken), walked from a random start so the reserved ports are contiguous.
/// </summary>
/// <remarks>
/// <para>
/// A port serves many destinations at once: only checks of the same destination need distinct 4-tuples.
/// So the pool is sized by the busiest single destination (twice its checks in flight, at least
/// <see cref="MinimumPorts"/>, so a 4-tuple rests between uses), never by the checks in flight overall, and
/// it never holds more than half of the ephemeral range or half of the descriptors the process may open
/// (<see cref="MaxCount"/>): the host keeps the rest for its own connections. A reservation no check has
/// used for <see cref="IdleTime"/> is closed (the most recent first), measured on the injected
/// <see cref="TimeProvider"/>. When a destination already holds every source the pool may offer it,
/// <see cref="TryTake"/> says so (<see cref="NoSourceLeft"/>) instead of taking more of the host's ports.
/// </para>
/// <para>
/// A source is a port and an address lane. Lane 0 is the address the route gives (any destination).
/// When the pool is at its limit, checks of a loopback destination may also go out from 127.0.0.2,
/// 127.0.0.3 and so on (<see cref="LaneAddress"/>): every address of 127.0.0.0/8 is local, a reservation
/// bound to the wildcard covers them all, and each lane multiplies the 4-tuples without another
/// descriptor. Replies are matched by the whole 4-tuple (<see cref="FindSlot"/>), whatever lanes exist.
/// Loop thread only; nothing here allocates per check (the tables grow, amortized, like the in-flight table).
/// </para>
/// </remarks>
internal sealed unsafe class SourcePortPool : IDisposable
{
    /// <summary>A reservation no check has used for this long is given back to the host.</summary>
    internal static readonly TimeSpan IdleTime = TimeSpan.FromSeconds(30);

    /// <summary>How often, at most, the pool looks for idle reservations.</summary>
    private static readonly TimeSpan ReturnPeriod = TimeSpan.FromSeconds(1);

    /// <summary>The ports a destination's checks rotate over at the least, so a 4-tuple rests between its uses.</summary>
    internal const int MinimumPorts = 16;

    /// <summary>Reservations are added in steps of this many (each step moves the reply filter).</summary>
    private const int GrowthStep = 32;

    /// <summary>Descriptors the fd budget leaves out before it is halved, for everything else the process opens.</summary>
    private const int DescriptorsLeft = 256;

    /// <summary>Loopback address lanes beside lane 0 at the most: 127.0.0.2 to 127.0.0.65.</summary>
    internal const int MaxLoopbackLanes = 64;

    /// <summary><see cref="TryTake"/>: every source the pool may offer this destination is in use by its checks.</summary>
    internal const int NoSourceLeft = -1;

    private const uint LoopbackLaneBase = 0x7F000001; // 127.0.0.1: lane k sends from 127.0.0.(1 + k)

    /// <summary>Where each destination's rotation stands, by a hash of the destination (lossy: two destinations may share one; only the rest between uses suffers).</summary>
    private const int CursorSlots = 4096;

    private readonly TimeProvider _clock;
    private const int InitialCapacity = 1024;

    private readonly List<Reservation> _reservations = [];
    // Sized for the common load up front: a table grows (allocates) only at a new high-water mark of checks in flight.
    private readonly Dictionary<FlowKey, int> _flows = new(InitialCapacity);
    private readonly Dictionary<DestinationKey, int> _destinations = new(InitialCapacity);
    private readonly int[] _cursors = new int[CursorSlots];
    private readonly int _rangeLow;
    private readonly int _rangeSize;
    private readonly int _start;
    private int[] _destinationsHolding = new int[64]; // [k]: destinations with k checks in flight
    private int _busiest;
    private int _walked;
    private long _nextReturn;

    internal SourcePortPool(bool dualStack, TimeProvider clock)
    {
        (int low, int high) = ReadEphemeralRange();
        _rangeLow = low;
        _rangeSize = high - low + 1;
        DualStack = dualStack;
        _clock = clock;
        Libc.RLimit limit;
        long fdBudget = Libc.GetRLimit(Libc.RLIMIT_NOFILE, &limit) == 0 ? (long)Math.Min(limit.Current, int.MaxValue) - DescriptorsLeft : int.MaxValue;
        MaxCount = (int)Math.Max(1, Math.Min(_rangeSize / 2, fdBudget / 2));

        // A random start (processes and restarts differ) that leaves room for MaxCount ports before the range wraps.
        _start = Random.Shared.Next(_rangeSize - MaxCount + 1);
        Lowest = ushort.MaxValue;
        Highest = 0;
    }

    private bool DualStack { get; }

    /// <summary>The lowest port reserved now (<see cref="ushort.MaxValue"/> with none); the tests read the span the pool covers.</summary>
    internal ushort Lowest { get; private set; }

    /// <summary>The highest port reserved now (0 with none).</summary>
    internal ushort Highest { get; private set; }

    /// <summary>Ports that may be reserved at the most: half the ephemeral range, and half the fd limit less <see cref="DescriptorsLeft"/>.</summary>
    internal int MaxCount { get; }

    /// <summary>Ports reserved now.</summary>
    internal int Count => _reservations.Count;

    /// <summary>The most ports reserved at once so far.</summary>
    internal int Peak { get; private set; }

    /// <summary>Checks holding a source now.</summary>
    internal int Holding => _flows.Count;

    /// <summary>Checks in flight of the busiest destination now.</summary>
    internal int Busiest => _busiest;

    /// <summary>Moves whenever a port is reserved or released: the reply filters are rebuilt from <see cref="CopyReservedPorts"/> when it does.</summary>
    internal int ReservationsVersion { get; private set; }

    /// <summary>Adds every port reserved now to <paramref name="ports"/> (in no particular order).</summary>
    internal void CopyReservedPorts(List<ushort> ports)
    {
        foreach (Reservation reservation in _reservations)
        {
            ports.Add(reservation.Port);
        }
    }

    /// <summary>Address lanes in use: 1 (the route's address) plus the loopback lanes added.</summary>
    internal int LaneCount { get; private set; } = 1;

    /// <summary>The IPv4 address lane <paramref name="lane"/> (1 or more) sends from, big-endian as a number.</summary>
    internal static uint LaneAddress(int lane) => LoopbackLaneBase + (uint)lane;

    /// <summary>
    /// Whether checks of an IPv4 destination the route sends from <paramref name="routeSource"/> may use the
    /// loopback lanes: the destination is a loopback address, and the route's own source is not one of the
    /// lanes' (else a lane could repeat a 4-tuple of lane 0).
    /// </summary>
    internal static bool MayUseLoopbackLanes(uint destination, uint routeSource) =>
        destination >> 24 == 127 && routeSource >> 24 == 127 && routeSource - LoopbackLaneBase - 1 >= MaxLoopbackLanes;

    /// <summary>The check that holds a 4-tuple (as a reply names it, reversed), or -1.</summary>
    internal int FindSlot(in FlowKey flow) => _flows.TryGetValue(flow, out int slot) ? slot : -1;

    /// <summary>
    /// Gives check <paramref name="slot"/> a source no other check of <paramref name="destination"/> holds,
    /// the next in the destination's rotation, first reserving more ports when the busiest destination needs
    /// them (and the limits allow). With <paramref name="loopbackLanes"/>, and the pool at its limit, a
    /// loopback lane is added the same way.
    /// </summary>
    /// <param name="destination">The address and port checked.</param>
    /// <param name="routeSource">The IPv4 address the route sends from (lane 0's), 0 for IPv6.</param>
    /// <param name="loopbackLanes">Whether the check may go out from a loopback lane (<see cref="MayUseLoopbackLanes"/>).</param>
    /// <param name="slot">The check's slot, which <see cref="FindSlot"/> gives back for the 4-tuple.</param>
    /// <param name="source">The source taken.</param>
    /// <returns>
    /// 0; <see cref="NoSourceLeft"/> when the destination holds every source the pool may offer it; or the errno of
    /// a pool that could not reserve what the check needs (EMFILE: no fd left; EADDRNOTAVAIL: others hold the range).
    /// </returns>
    internal int TryTake(in DestinationKey destination, uint routeSource, bool loopbackLanes, int slot, out HeldSource source)
    {
        source = default;
        ref int holding = ref CollectionsMarshal.GetValueRefOrAddDefault(_destinations, destination, out _);
        int wanted = Math.Max(MinimumPorts, 2 * (holding + 1));
        int errno = 0;
        if (wanted > _reservations.Count && _reservations.Count < MaxCount && _walked < _rangeSize)
        {
            errno = Grow(Math.Min(MaxCount, (wanted + GrowthStep - 1) / GrowthStep * GrowthStep));
        }

        int lanes = 1;
        if (loopbackLanes)
        {
            bool atLimit = _reservations.Count >= MaxCount || errno != 0 || _walked >= _rangeSize;
            if (atLimit && _reservations.Count > 0 && _reservations.Count * LaneCount < wanted && LaneCount <= MaxLoopbackLanes)
            {
                LaneCount++;
            }

            lanes = LaneCount;
        }

        // Every destination rotates over the first `window` ports: enough for the busiest, so the ones above go idle and return.
        int window = Math.Min(_reservations.Count, Math.Max(MinimumPorts, 2 * Math.Max(_busiest, holding + 1)));
        int sources = window * lanes;
        if (holding >= sources)
        {
            if (holding == 0)
            {
                _destinations.Remove(destination);
            }

            return errno != 0 ? errno : _reservations.Count >= MaxCount ? NoSourceLeft : Errno.EADDRNOTAVAIL;
        }

        // At most `holding` of the `sources` candidates are this destination's, so the scan ends on a free one.
        ref int cursor = ref _cursors[destination.GetHashCode() & (CursorSlots - 1)];
        int index = (int)((uint)cursor % (uint)sources);
        Span<Reservation> reserved = CollectionsMarshal.AsSpan(_reservations);
        for (int tried = 0; tried < sources; tried++)
        {
            int lane = index / window;
            int reservation = index - (lane * window);
            uint local = lane == 0 ? routeSource : LaneAddress(lane);
            if (_flows.TryAdd(new FlowKey(destination, local, reserved[reservation].Port), slot))
            {
                cursor = index + 1;
                reserved[reservation].Users++;
                MoveHolding(ref holding, +1);
                source = new HeldSource((byte)lane, reserved[reservation].Port, reservation, local);
                return 0;
            }

            index = index + 1 == sources ? 0 : index + 1;
        }

        throw new InvalidOperationException($"no free source among {sources} for a destination holding {holding}: the pool's books disagree");
    }

    /// <summary>Gives back the source a check of <paramref name="destination"/> held.</summary>
    internal void Return(in DestinationKey destination, in HeldSource source)
    {
        _flows.Remove(new FlowKey(destination, source.Local4, source.Port));
        ref Reservation reservation = ref CollectionsMarshal.AsSpan(_reservations)[source.Reservation];
        if (--reservation.Users == 0)
        {
            reservation.IdleSince = _clock.GetTimestamp();
        }

        ref int holding = ref CollectionsMarshal.GetValueRefOrNullRef(_destinations, destination);
        MoveHolding(ref holding, -1);
        if (holding == 0)
        {
            _destinations.Remove(destination);
        }
    }

    /// <summary>How long until <see cref="ReturnIdle"/> next looks, or null when nothing is reserved.</summary>
    internal TimeSpan? UntilNextReturn =>
        _reservations.Count == 0 ? null : _clock.GetElapsedTime(_clock.GetTimestamp(), _nextReturn);

    /// <summary>
    /// Closes the reservations no check has used for <see cref="IdleTime"/>, the most recent first (one still
    /// in use keeps those below it); looks at most once a <see cref="ReturnPeriod"/> of the clock.
    /// </summary>
    /// <returns>Whether any reservation was closed (<see cref="ReservationsVersion"/> moved with it).</returns>
    internal bool ReturnIdle()
    {
        if (_reservations.Count == 0)
        {
            return false;
        }

        long now = _clock.GetTimestamp();
        if (now < _nextReturn)
        {
            return false;
        }

        _nextReturn = now + (long)(ReturnPeriod.TotalSeconds * _clock.TimestampFrequency);
        bool returned = false;
        while (_reservations.Count > 0)
        {
            Reservation top = _reservations[^1];
            if (top.Users != 0 || _clock.GetElapsedTime(top.IdleSince, now) < IdleTime)
            {
                break;
            }

            Libc.Close(top.Fd);
            _walked = top.Walked; // the next growth reserves this port again first: the set stays contiguous
            _reservations.RemoveAt(_reservations.Count - 1);
            ReservationsVersion++;
            returned = true;
        }

        if (!returned)
        {
            return false;
        }

        (ushort lowest, ushort highest) = (ushort.MaxValue, (ushort)0);
        foreach (Reservation reservation in _reservations)
        {
            lowest = Math.Min(lowest, reservation.Port);
            highest = Math.Max(highest, reservation.Port);
        }

        (Lowest, Highest) = (lowest, highest);
        return true;
    }

    /// <summary>Moves a destination's checks in flight by one, keeping the count of destinations at each level (so the busiest is known at once).</summary>
    private void MoveHolding(ref int holding, int change)
    {
        if (holding > 0)
        {
            _destinationsHolding[holding]--;
        }

        if (change < 0 && holding == _busiest && _destinationsHolding[holding] == 0)
        {
            _busiest--;
        }

        holding += change;
        if (holding > 0)
        {
            if (holding >= _destinationsHolding.Length)
            {
                Array.Resize(ref _destinationsHolding, _destinationsHolding.Length * 2);
            }

            _destinationsHolding[holding]++;
            _busiest = Math.Max(_busiest, holding);
        }
    }

    private int Grow(int count)
    {
        byte* address = stackalloc byte[SocketAddressWriter.MaxSize];
        int family = DualStack ? Libc.AF_INET6 : Libc.AF_INET;
        int length = DualStack ? 28 : 16;
        long now = _clock.GetTimestamp();
        while (_reservations.Count < count && _walked < _rangeSize)
        {
            int walked = _walked;
            int port = _rangeLow + ((_start + walked) % _rangeSize);
            int fd = Libc.Socket(family, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                return Libc.LastErrno; // not tried: this port comes first when fds are back
            }

            _walked++;

            // Dual-stack whatever net.ipv6.bindv6only says, so [::]:port reserves the IPv4 port as well.
            int zero = 0;
            if (DualStack)
            {
                Libc.SetSockOpt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, &zero, sizeof(int));
            }

            // The wildcard address, zeroed: 0.0.0.0 or [::].
            new Span<byte>(address, SocketAddressWriter.MaxSize).Clear();
            *(ushort*)address = (ushort)family;
            address[2] = (byte)(port >> 8);
            address[3] = (byte)port;
            if (Libc.Bind(fd, address, length) != 0)
            {
                Libc.Close(fd); // in use by someone else: skip it
                continue;
            }

            _reservations.Add(new Reservation { Fd = fd, Port = (ushort)port, Walked = walked, IdleSince = now });
            Peak = Math.Max(Peak, _reservations.Count);
            ReservationsVersion++;
            Lowest = Math.Min(Lowest, (ushort)port);
            Highest = Math.Max(Highest, (ushort)port);
        }

        return 0;
    }

    /// <summary>The kernel's ephemeral range (<c>net.ipv4.ip_local_port_range</c>, which IPv6 shares), or Linux's default.</summary>
    internal static (int Low, int High) ReadEphemeralRange()
    {
        try
        {
            string[] parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range")
                .Split(['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            int low = int.Parse(parts[0], CultureInfo.InvariantCulture);
            int high = int.Parse(parts[1], CultureInfo.InvariantCulture);
            if (low is >= 1 and <= 65535 && high >= low && high <= 65535)
            {
                return (low, high);
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or OverflowException)
        {
        }

        return (32768, 60999);
    }

    /// <summary>Releases every reservation (loop thread, at exit).</summary>
    public void Dispose()
    {
        foreach (Reservation reservation in _reservations)
        {
            Libc.Close(reservation.Fd);
        }

        _reservations.Clear();
        _flows.Clear();
        _destinations.Clear();
        ReservationsVersion++;
    }

    /// <summary>A reserved port: its descriptor, the checks using it, since when none has, and where in the walk of the range it was found.</summary>
    private struct Reservation
    {
        internal int Fd;
        internal ushort Port;
        internal int Users;
        internal long IdleSince;
        internal int Walked;
    }
}

/// <summary>What a check is of: the address (IPv4 in the low 32 bits, or IPv6 as read from the wire), the port, the family.</summary>
internal readonly record struct DestinationKey(UInt128 Address, ushort Port, bool V6);

/// <summary>A check's 4-tuple: its destination and its local address (IPv4; 0 for IPv6, whose checks all go out from the route's) and port.</summary>
internal readonly record struct FlowKey(DestinationKey Destination, uint Local4, ushort LocalPort);

/// <summary>A source a check holds: the lane, the port, the reservation behind it, the local IPv4 address (0 for IPv6).</summary>
internal readonly record struct HeldSource(byte Lane, ushort Port, int Reservation, uint Local4);
