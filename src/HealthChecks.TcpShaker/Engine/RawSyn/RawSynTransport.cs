using System.Diagnostics;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The raw SYN transport, driven by a <see cref="CheckLoop"/>: a check is a crafted SYN sent from a raw
/// socket, from a reserved source port. No kernel socket owns the 4-tuple, so when the SYN-ACK comes back the
/// kernel itself answers it with RST at once, in softirq, whatever this process is doing: no
/// handshake ACK can leak, however starved the loop is. The transport only reads the replies (through a
/// BPF filter), matches each to its check by 4-tuple and acknowledgment number, and completes it.
/// </summary>
/// <remarks>
/// Split by concern: this file holds the sockets, their filters and the loop's calls;
/// <c>RawSynTransport.Checks.cs</c> a check's life (port, SYN, retransmission, deadline);
/// <c>RawSynTransport.Replies.cs</c> the reading and matching of SYN-ACK, RST and ICMP;
/// <c>RawSynTransport.TestHooks.cs</c> what tests read.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The loop closes its transport (Close) when its thread exits; CheckLoop.Stop() is the dispose.")]
internal sealed unsafe partial class RawSynTransport : ILoopTransport
{
    private const ulong Tcp4Token = 1;
    private const ulong Tcp6Token = 2;
    private const ulong Icmp4Token = 3;
    private const ulong Icmp6Token = 4;

    /// <summary>Receive buffer asked for each raw socket: a starved loop's replies wait here (a small one drops them and makes false timeouts).</summary>
    internal const int ReceiveBufferBytes = 32 << 20;

    private readonly TcpShakerMetrics _metrics;
    private readonly CheckAccounting _accounting;
    private readonly SipKey _key; // of the initial sequence numbers: per engine, never leaves the process

    // Raw sockets, -1 when the family could not be opened (then *Errno says why, and is the result of a check in it).
    private readonly int _tcp4;
    private readonly int _tcp6;
    private readonly int _icmp4;
    private readonly int _icmp6;
    private readonly int _tcp6Errno;

    // The reply filters: the ports they were built from (a ReservationsVersion of the pool) and what they pass.
    private readonly List<ushort> _portScratch = [];
    private int _filteredVersion = -1;
    private int _filterMaxRanges = ReplyFilters.MaxRanges;
    private PortRanges _filtered = PortRanges.Empty;

    /// <exception cref="EngineStartException">No raw IPv4 socket (EPERM without CAP_NET_RAW), or one could not be set up.</exception>
    /// <param name="maxStartsPerIteration">Checks started in one iteration at the most (the send batches' size).</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="accounting">The engine's check accounting.</param>
    /// <param name="clock">The clock the source ports' idle time is measured on (tests move it instead of waiting 30 s).</param>
    internal RawSynTransport(int maxStartsPerIteration, TcpShakerMetrics metrics, CheckAccounting accounting, TimeProvider clock)
    {
        _metrics = metrics;
        _accounting = accounting;
        _key = SipHash.NewKey();

        var opened = new List<int>();
        try
        {
            _tcp4 = OpenRaw(Libc.AF_INET, Libc.IPPROTO_TCP, opened, out int errno);
            if (_tcp4 < 0)
            {
                throw new EngineStartException("socket(AF_INET, SOCK_RAW, IPPROTO_TCP)", errno);
            }

            _icmp4 = OpenRaw(Libc.AF_INET, Libc.IPPROTO_ICMP, opened, out errno);
            if (_icmp4 < 0)
            {
                throw new EngineStartException("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)", errno);
            }

            // IPv6 may be missing (disabled, EAFNOSUPPORT): the engine still runs, its IPv6 checks get that errno.
            _tcp6 = OpenRaw(Libc.AF_INET6, Libc.IPPROTO_TCP, opened, out _tcp6Errno);
            _icmp6 = _tcp6 < 0 ? -1 : OpenRaw(Libc.AF_INET6, Libc.IPPROTO_ICMPV6, opened, out _);
            _ports = new SourcePortPool(dualStack: _tcp6 >= 0, clock);

            Configure();
        }
        catch
        {
            _sources.Dispose();
            foreach (int fd in opened)
            {
                Libc.Close(fd);
            }

            throw;
        }

        _sendV4 = new PacketBatch(Math.Clamp(maxStartsPerIteration, 16, 1024), SynPacket.Length);
        _sendV6 = new PacketBatch(Math.Clamp(maxStartsPerIteration, 16, 1024), SynPacket.Length);
        _receive = new PacketBatch(ReceiveBatch, ReplyBufferSize);
    }

    /// <inheritdoc/>
    public int MaxEvents => 8;

    /// <inheritdoc/>
    public bool HasPendingWork => false;

    /// <inheritdoc/>
    public void Attach(CheckLoop loop)
    {
        _loop = loop;
        _inFlight = loop.InFlight;
        _deadlines = loop.Deadlines;
        _slots = new RawSlot[_inFlight.Capacity];
        Register(loop.EpollFd, _tcp4, Tcp4Token);
        Register(loop.EpollFd, _icmp4, Icmp4Token);
        Register(loop.EpollFd, _tcp6, Tcp6Token);
        Register(loop.EpollFd, _icmp6, Icmp6Token);
    }

    /// <inheritdoc/>
    public void OnEvent(ulong token, long eventTime)
    {
        switch (token)
        {
            case Tcp4Token:
                ReadReplies(_tcp4, ReplyKind.TcpV4);
                break;
            case Tcp6Token:
                ReadReplies(_tcp6, ReplyKind.TcpV6);
                break;
            case Icmp4Token:
                ReadReplies(_icmp4, ReplyKind.IcmpV4);
                break;
            case Icmp6Token:
                ReadReplies(_icmp6, ReplyKind.IcmpV6);
                break;
        }
    }

    /// <inheritdoc/>
    public void Expire(long now)
    {
        ExpireAndRetransmit(now);
        _ports.ReturnIdle();
        FollowReservations(); // ports the pool released (a growth is followed before its SYN goes out)
    }

    /// <inheritdoc/>
    public long NextWake(long now) =>
        _ports.UntilNextReturn is TimeSpan untilReturn ? now + Math.Max(0, Ticks(untilReturn)) : long.MaxValue;

    /// <inheritdoc/>
    public void Close()
    {
        _ports.Dispose();
        _sources.Dispose();
        foreach (int fd in (ReadOnlySpan<int>)[_tcp4, _tcp6, _icmp4, _icmp6])
        {
            if (fd >= 0)
            {
                Libc.Close(fd);
            }
        }

        _sendV4.Dispose();
        _sendV6.Dispose();
        _receive.Dispose();
    }

    private static int OpenRaw(int family, int protocol, List<int> opened, out int errno)
    {
        int fd = Libc.Socket(family, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, protocol);
        errno = fd < 0 ? Libc.LastErrno : 0;
        if (fd >= 0)
        {
            opened.Add(fd);
        }

        return fd;
    }

    /// <summary>Buffers, filters, and on IPv6 the kernel's checksum; then drops what arrived before the filters.</summary>
    private void Configure()
    {
        foreach (int fd in (ReadOnlySpan<int>)[_tcp4, _tcp6, _icmp4, _icmp6])
        {
            if (fd < 0)
            {
                continue;
            }

            int size = ReceiveBufferBytes;
            if (Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &size, sizeof(int)) != 0)
            {
                // Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
                Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &size, sizeof(int));
            }
        }

        // No port reserved yet: filters that keep nothing until the first reservation.
        FollowReservations();
        if (_tcp6 >= 0)
        {
            int offset = SynPacket.ChecksumOffset;
            if (Libc.SetSockOpt(_tcp6, Libc.IPPROTO_IPV6, Libc.IPV6_CHECKSUM, &offset, sizeof(int)) != 0)
            {
                throw new EngineStartException("setsockopt(IPV6_CHECKSUM)", Libc.LastErrno);
            }
        }

        if (_icmp6 >= 0)
        {
            // struct icmp6_filter: a bit set blocks its type; pass only type 1, destination unreachable.
            uint* filter = stackalloc uint[8];
            new Span<uint>(filter, 8).Fill(uint.MaxValue);
            filter[0] &= ~(1u << 1);
            if (Libc.SetSockOpt(_icmp6, Libc.IPPROTO_ICMPV6, Libc.ICMP6_FILTER, filter, 32) != 0)
            {
                throw new EngineStartException("setsockopt(ICMP6_FILTER)", Libc.LastErrno);
            }
        }

        byte* scratch = stackalloc byte[256];
        foreach (int fd in (ReadOnlySpan<int>)[_tcp4, _tcp6, _icmp4, _icmp6])
        {
            for (int i = 0; fd >= 0 && i < 100_000 && Libc.Recv(fd, scratch, 256, Libc.MSG_DONTWAIT) >= 0; i++)
            {
            }
        }
    }

    /// <summary>
    /// Rebuilds the reply filters of all four sockets from the ports reserved now, when they changed since the
    /// last time: a port is in the filters before a SYN goes out from it, and leaves them once it is released.
    /// When the kernel refuses a program for its size (ENOMEM: <c>net.core.optmem_max</c>), fewer ranges are
    /// tried (<see cref="PortRanges"/> merges the nearest), down to one.
    /// </summary>
    private void FollowReservations()
    {
        int version = _ports.ReservationsVersion;
        if (version == _filteredVersion)
        {
            return;
        }

        _portScratch.Clear();
        _ports.CopyReservedPorts(_portScratch);
        while (true)
        {
            PortRanges ranges = PortRanges.From(_portScratch, _filterMaxRanges);
            int errno = AttachReplyFilters(ranges);
            if (errno == 0)
            {
                _filtered = ranges;
                _filteredVersion = version;
                return;
            }

            if (errno != Errno.ENOMEM || _filterMaxRanges == 1)
            {
                throw new EngineStartException("setsockopt(SO_ATTACH_FILTER)", errno);
            }

            _filterMaxRanges /= 2;
        }
    }

    private int AttachReplyFilters(PortRanges ranges)
    {
        int errno = ReplyFilters.Attach(_tcp4, ReplyFilters.TcpV4(ranges));
        if (errno == 0)
        {
            errno = ReplyFilters.Attach(_icmp4, ReplyFilters.IcmpV4(ranges));
        }

        if (errno == 0 && _tcp6 >= 0)
        {
            errno = ReplyFilters.Attach(_tcp6, ReplyFilters.TcpV6(ranges));
        }

        if (errno == 0 && _icmp6 >= 0)
        {
            errno = ReplyFilters.Attach(_icmp6, ReplyFilters.IcmpV6(ranges));
        }

        return errno;
    }

    private static void Register(int epollFd, int fd, ulong token)
    {
        if (fd < 0)
        {
            return;
        }

        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLIN, token);
        if (Libc.EpollCtl(epollFd, Libc.EPOLL_CTL_ADD, fd, record) != 0)
        {
            throw new EngineStartException("epoll_ctl", Libc.LastErrno);
        }
    }
}
