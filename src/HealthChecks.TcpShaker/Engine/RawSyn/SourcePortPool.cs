using System.Globalization;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The source ports raw SYNs go out from. Each is reserved by an ordinary TCP socket bound to the
/// wildcard address (dual-stack where IPv6 exists) without <c>SO_REUSEADDR</c>, never listening or
/// connecting: the kernel's own <c>connect()</c> never picks a port bound this way, nobody else can
/// bind it, and a SYN-ACK arriving for it finds no connection, so the kernel answers it with RST.
/// Ports come from the kernel's ephemeral range (so no service port such as 8080 is taken), only as
/// many as the load needs (twice the checks in flight), and are reused oldest first, so a port rests
/// as long as the pool allows. One check holds one source: a 4-tuple is never reused while in flight.
/// </summary>
/// <remarks>
/// A source is a port and an address lane. Lane 0 is the address the route gives (any destination).
/// When lane 0 is used up (the fd limit or the ephemeral range caps the reservations), checks of a
/// loopback destination may also go out from 127.0.0.2, 127.0.0.3 and so on (<see cref="LaneAddress"/>):
/// every address of 127.0.0.0/8 is local, a reservation bound to the wildcard covers them all, and each
/// lane multiplies the 4-tuples without another descriptor. Lanes are added only when needed, and
/// lane 0 and the loopback lanes are taken oldest first together. Loop thread only.
/// </remarks>
internal sealed unsafe class SourcePortPool : IDisposable
{
    private const int MinimumGrowth = 64;

    /// <summary>Descriptors never taken for reservations, so the process keeps some for everything else (the route lookups among them).</summary>
    private const int DescriptorsLeft = 256;

    /// <summary>Loopback address lanes beside lane 0 at the most: 127.0.0.2 to 127.0.0.65.</summary>
    internal const int MaxLoopbackLanes = 64;

    private const uint LoopbackLaneBase = 0x7F000001; // 127.0.0.1: lane k sends from 127.0.0.(1 + k)

    private readonly Queue<FreeSource> _free = new();     // lane 0
    private readonly Queue<FreeSource> _laneFree = new(); // the loopback lanes
    private readonly List<(int Fd, ushort Port)> _reservations = [];
    private readonly int _rangeLow;
    private readonly int _rangeHigh;
    private readonly bool _dualStack;
    private int _nextCandidate;
    private int _candidatesLeft;
    private long _returns;

    internal SourcePortPool(bool dualStack)
    {
        (_rangeLow, _rangeHigh) = ReadEphemeralRange();
        _dualStack = dualStack;
        _nextCandidate = _rangeLow + Random.Shared.Next(_rangeHigh - _rangeLow + 1);
        _candidatesLeft = _rangeHigh - _rangeLow + 1;
        Libc.RLimit limit;
        MaxCount = Libc.GetRLimit(Libc.RLIMIT_NOFILE, &limit) == 0
            ? (int)Math.Clamp((long)Math.Min(limit.Current, int.MaxValue) - DescriptorsLeft, MinimumGrowth, _candidatesLeft)
            : _candidatesLeft;
        Lowest = ushort.MaxValue;
        Highest = 0;
    }

    /// <summary>The lowest port reserved so far.</summary>
    internal ushort Lowest { get; private set; }

    /// <summary>The highest port reserved so far.</summary>
    internal ushort Highest { get; private set; }

    /// <summary>Ports that may be reserved at the most: the ephemeral range, and the fd limit less <see cref="DescriptorsLeft"/>.</summary>
    internal int MaxCount { get; }

    /// <summary>Ports reserved.</summary>
    internal int Count => _reservations.Count;

    /// <summary>Moves whenever a port is reserved or released: the reply filters are rebuilt from <see cref="CopyReservedPorts"/> when it does.</summary>
    internal int ReservationsVersion { get; private set; }

    /// <summary>Adds every port reserved now to <paramref name="ports"/> (in no particular order).</summary>
    internal void CopyReservedPorts(List<ushort> ports)
    {
        foreach ((_, ushort port) in _reservations)
        {
            ports.Add(port);
        }
    }

    /// <summary>Address lanes in use: 1 (the route's address) plus the loopback lanes added.</summary>
    internal int LaneCount { get; private set; } = 1;

    /// <summary>Sources free now, in every lane.</summary>
    internal int FreeCount => _free.Count + _laneFree.Count;

    /// <summary>The IPv4 address lane <paramref name="lane"/> (1 or more) sends from, big-endian as a number.</summary>
    internal static uint LaneAddress(int lane) => LoopbackLaneBase + (uint)lane;

    /// <summary>The loopback lane a local IPv4 address is (1 or more), or 0 when it is none of them.</summary>
    internal int LaneOf(uint localAddress)
    {
        uint lane = localAddress - LoopbackLaneBase;
        return lane >= 1 && lane < (uint)LaneCount ? (int)lane : 0;
    }

    /// <summary>
    /// Whether checks of an IPv4 destination the route sends from <paramref name="routeSource"/> may use the
    /// loopback lanes: the destination is a loopback address, and the route's own source is not one of the
    /// lanes' (else a lane could repeat a 4-tuple of lane 0).
    /// </summary>
    internal static bool MayUseLoopbackLanes(uint destination, uint routeSource) =>
        destination >> 24 == 127 && routeSource >> 24 == 127 && routeSource - LoopbackLaneBase - 1 >= MaxLoopbackLanes;

    /// <summary>
    /// Takes the source that has rested longest, first reserving more ports when fewer than
    /// <paramref name="inFlight"/> are free (the pool stays at about twice the checks in flight). With
    /// <paramref name="loopbackLanes"/>, and lane 0 at its limit, a loopback lane is added the same way.
    /// </summary>
    /// <param name="inFlight">Checks holding a source now.</param>
    /// <param name="loopbackLanes">Whether the check may go out from a loopback lane (<see cref="MayUseLoopbackLanes"/>).</param>
    /// <param name="lane">The address lane: 0 for the route's address.</param>
    /// <param name="port">The port.</param>
    /// <param name="rangeChanged">Whether <see cref="Lowest"/> or <see cref="Highest"/> moved (the reply filters follow <see cref="ReservationsVersion"/> instead).</param>
    /// <returns>0, or the errno of a pool that is empty and cannot grow (EADDRNOTAVAIL: the range is used up; EMFILE: no fd left).</returns>
    internal int TryTake(int inFlight, bool loopbackLanes, out int lane, out ushort port, out bool rangeChanged)
    {
        rangeChanged = false;
        int errno = 0;
        bool mayGrow = _candidatesLeft > 0 && _reservations.Count < MaxCount;
        if (_free.Count <= inFlight && mayGrow)
        {
            errno = Grow(Math.Min(Math.Max(MinimumGrowth, _reservations.Count / 2), MaxCount - _reservations.Count), out rangeChanged);
            mayGrow = errno == 0 && _candidatesLeft > 0 && _reservations.Count < MaxCount;
        }

        if (loopbackLanes)
        {
            if (!mayGrow && FreeCount <= inFlight && LaneCount <= MaxLoopbackLanes && _reservations.Count > 0)
            {
                AddLane();
            }

            if (_laneFree.TryPeek(out FreeSource oldest) && (!_free.TryPeek(out FreeSource first) || oldest.Order < first.Order))
            {
                _laneFree.Dequeue();
                (lane, port) = (oldest.Lane, oldest.Port);
                return 0;
            }
        }

        lane = 0;
        if (_free.TryDequeue(out FreeSource source))
        {
            port = source.Port;
            return 0;
        }

        port = 0;
        return errno != 0 ? errno : Errno.EADDRNOTAVAIL;
    }

    /// <summary>Gives a source back; it is taken again after every source freed before it.</summary>
    internal void Return(int lane, ushort port) =>
        (lane == 0 ? _free : _laneFree).Enqueue(new FreeSource(port, (byte)lane, ++_returns));

    /// <summary>A lane of every port reserved, all of them free (and older than any source given back).</summary>
    private void AddLane()
    {
        byte lane = (byte)LaneCount++;
        foreach ((_, ushort port) in _reservations)
        {
            _laneFree.Enqueue(new FreeSource(port, lane, 0));
        }
    }

    private int Grow(int count, out bool rangeChanged)
    {
        rangeChanged = false;
        byte* address = stackalloc byte[SocketAddressWriter.MaxSize];
        int family = _dualStack ? Libc.AF_INET6 : Libc.AF_INET;
        int length = _dualStack ? 28 : 16;
        int reserved = 0;
        while (reserved < count && _candidatesLeft > 0)
        {
            int port = _nextCandidate;
            _nextCandidate = port == _rangeHigh ? _rangeLow : port + 1;
            _candidatesLeft--;

            int fd = Libc.Socket(family, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                _candidatesLeft++; // not tried: try this port again when fds are back
                _nextCandidate = port;
                return Libc.LastErrno;
            }

            // Dual-stack whatever net.ipv6.bindv6only says, so [::]:port reserves the IPv4 port as well.
            int zero = 0;
            if (_dualStack)
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

            _reservations.Add((fd, (ushort)port));
            ReservationsVersion++;
            _free.Enqueue(new FreeSource((ushort)port, 0, 0));
            reserved++;
            if (port < Lowest)
            {
                Lowest = (ushort)port;
                rangeChanged = true;
            }

            if (port > Highest)
            {
                Highest = (ushort)port;
                rangeChanged = true;
            }
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
        foreach ((int fd, _) in _reservations)
        {
            Libc.Close(fd);
        }

        _reservations.Clear();
        ReservationsVersion++;
        _free.Clear();
        _laneFree.Clear();
    }

    /// <summary>A free source, and when it was given back (0: never taken yet).</summary>
    private readonly record struct FreeSource(ushort Port, byte Lane, long Order);
}
