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
/// as long as the pool allows. One check holds one port: a 4-tuple is never reused while in flight.
/// Loop thread only.
/// </summary>
internal sealed unsafe class SourcePortPool : IDisposable
{
    private const int MinimumGrowth = 64;

    /// <summary>Descriptors never taken for reservations, so the process keeps some for everything else (the route lookups among them).</summary>
    private const int DescriptorsLeft = 256;

    private readonly Queue<ushort> _free = new();
    private readonly List<int> _reservations = [];
    private readonly int _rangeLow;
    private readonly int _rangeHigh;
    private readonly bool _dualStack;
    private int _nextCandidate;
    private int _candidatesLeft;

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

    /// <summary>The lowest port reserved so far (the reply filter's lower bound).</summary>
    internal ushort Lowest { get; private set; }

    /// <summary>The highest port reserved so far.</summary>
    internal ushort Highest { get; private set; }

    /// <summary>Ports that may be reserved at the most: the ephemeral range, and the fd limit less <see cref="DescriptorsLeft"/>.</summary>
    internal int MaxCount { get; }

    /// <summary>Ports reserved.</summary>
    internal int Count => _reservations.Count;

    /// <summary>Ports free now.</summary>
    internal int FreeCount => _free.Count;

    /// <summary>
    /// Takes the port that has rested longest, first reserving more when fewer than
    /// <paramref name="inFlight"/> are free (the pool stays at about twice the checks in flight).
    /// </summary>
    /// <param name="inFlight">Checks holding a port now.</param>
    /// <param name="port">The port.</param>
    /// <param name="rangeChanged">Whether <see cref="Lowest"/> or <see cref="Highest"/> moved (the filter must follow).</param>
    /// <returns>0, or the errno of a pool that is empty and cannot grow (EADDRNOTAVAIL: the range is used up; EMFILE: no fd left).</returns>
    internal int TryTake(int inFlight, out ushort port, out bool rangeChanged)
    {
        rangeChanged = false;
        int errno = 0;
        if (_free.Count <= inFlight && _candidatesLeft > 0 && _reservations.Count < MaxCount)
        {
            errno = Grow(Math.Min(Math.Max(MinimumGrowth, _reservations.Count / 2), MaxCount - _reservations.Count), out rangeChanged);
        }

        if (_free.TryDequeue(out port))
        {
            return 0;
        }

        return errno != 0 ? errno : Errno.EADDRNOTAVAIL;
    }

    /// <summary>Gives a port back; it is taken again after every port freed before it.</summary>
    internal void Return(ushort port) => _free.Enqueue(port);

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

            _reservations.Add(fd);
            _free.Enqueue((ushort)port);
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
        foreach (int fd in _reservations)
        {
            Libc.Close(fd);
        }

        _reservations.Clear();
        _free.Clear();
    }
}
