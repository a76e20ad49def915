using System.Diagnostics;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Epoll;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The raw SYN loop on a dedicated thread: a check is a crafted SYN sent from a raw socket, from a
/// reserved source port. No kernel socket owns the 4-tuple, so when the SYN-ACK comes back the
/// kernel itself answers it with RST at once, in softirq, whatever this process is doing: no
/// handshake ACK can leak, however starved the loop is. The loop only reads the replies (through a
/// BPF filter), matches each to its check by 4-tuple and acknowledgment number, and completes it.
/// </summary>
/// <remarks>
/// Split by concern: this file holds the sockets, the iteration and the entry points other threads
/// call; <c>RawSynLoop.Checks.cs</c> a check's life (port, SYN, retransmission, deadline, cancellation);
/// <c>RawSynLoop.Replies.cs</c> the reading and matching of SYN-ACK, RST and ICMP;
/// <c>RawSynLoop.Shutdown.cs</c> the exit and what tests reach into; <see cref="LoopInbox"/> what other threads
/// hand it; <see cref="LoopWatches"/> the watches it runs.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The loop thread releases its buffers, ports and sockets in Shutdown when it exits; Stop() is the loop's dispose.")]
internal sealed unsafe partial class RawSynLoop : ICheckLoop
{
    private const int MaxEvents = 8;
    private const ulong WakeToken = 0;
    private const ulong Tcp4Token = 1;
    private const ulong Tcp6Token = 2;
    private const ulong Icmp4Token = 3;
    private const ulong Icmp6Token = 4;

    /// <summary>Receive buffer asked for each raw socket: a starved loop's replies wait here (a small one drops them and makes false timeouts).</summary>
    internal const int ReceiveBufferBytes = 32 << 20;

    private readonly TcpShakerMetrics _metrics;
    private readonly CheckAccounting _accounting;
    private readonly int _maxStartsPerIteration;
    private readonly SipKey _key; // of the initial sequence numbers: per engine, never leaves the process
    private readonly int _epollFd;
    private readonly WakeSignal _wake;
    private readonly LoopWatches _watches;
    private readonly LoopInbox _inbox;
    private readonly CompletionQueue _completions = new();
    private readonly Func<bool> _hasLoopWork;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

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

    private volatile Exception? _fault;

    /// <exception cref="EngineStartException">No raw IPv4 socket (EPERM without CAP_NET_RAW), no epoll or eventfd.</exception>
    /// <param name="maxStartsPerIteration">Checks started in one iteration at the most.</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="accounting">The engine's check accounting.</param>
    /// <param name="clock">The clock the source ports' idle time is measured on (tests move it instead of waiting 30 s).</param>
    internal RawSynLoop(int maxStartsPerIteration, TcpShakerMetrics metrics, CheckAccounting accounting, TimeProvider clock)
    {
        _metrics = metrics;
        _accounting = accounting;
        _maxStartsPerIteration = maxStartsPerIteration;
        _key = SipHash.NewKey();
        _inFlight = new InFlightTable(256);
        _deadlines = new DeadlineHeap(_inFlight);
        _slots = new RawSlot[_inFlight.Capacity];

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

            _epollFd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
            if (_epollFd < 0)
            {
                throw new EngineStartException("epoll_create1", Libc.LastErrno);
            }

            opened.Add(_epollFd);
            _wake = WakeSignal.Create();
            Register(_wake.Fd, WakeToken);
            Register(_tcp4, Tcp4Token);
            Register(_icmp4, Icmp4Token);
            Register(_tcp6, Tcp6Token);
            Register(_icmp6, Icmp6Token);
        }
        catch
        {
            _sources.Dispose();
            _wake?.Dispose();
            foreach (int fd in opened)
            {
                Libc.Close(fd);
            }

            throw;
        }

        _sendV4 = new PacketBatch(Math.Clamp(maxStartsPerIteration, 16, 1024), SynPacket.Length);
        _sendV6 = new PacketBatch(Math.Clamp(maxStartsPerIteration, 16, 1024), SynPacket.Length);
        _receive = new PacketBatch(ReceiveBatch, ReplyBufferSize);
        _watches = new LoopWatches(this, accounting, _wake, _stopped.Task);
        _inbox = new LoopInbox(this, _wake, accounting, StoppedException);
        _hasLoopWork = HasLoopWork;
        _thread = new Thread(Run) { IsBackground = true, Name = "TcpShaker raw SYN loop" };
    }

    /// <summary>Completes when the loop thread has exited and every check it held has completed.</summary>
    internal Task Stopped => _stopped.Task;

    /// <inheritdoc/>
    public CompletionQueue Completions => _completions;

    /// <summary>The watches this loop runs.</summary>
    internal LoopWatches Watches => _watches;

    /// <summary>The exception that killed the loop, if one did.</summary>
    internal Exception? Fault => _fault;

    internal void Start() => _thread.UnsafeStart();

    /// <summary>Queues a check. Any thread.</summary>
    internal void Enqueue(CheckOperation operation) => _inbox.Enqueue(operation);

    /// <summary>Asks the loop to cancel a check. Any thread (the token's callback).</summary>
    public void RequestCancellation(CheckOperation operation, short version) => _inbox.RequestCancellation(operation, version);

    /// <summary>Asks the loop to exit; <see cref="Stopped"/> completes when it has. Any thread.</summary>
    internal void Stop() => _inbox.Stop();

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

    private void Register(int fd, ulong token)
    {
        if (fd < 0)
        {
            return;
        }

        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLIN, token);
        if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, fd, record) != 0)
        {
            throw new EngineStartException("epoll_ctl", Libc.LastErrno);
        }
    }

    private void Run()
    {
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EpollEvent.Size));
        try
        {
            while (!_inbox.Stopping)
            {
                int count = Wait(events, WaitTimeout());
                long now = Stopwatch.GetTimestamp();
                _wake.Disarm();

                for (int i = 0; i < count; i++)
                {
                    switch (EpollEvent.ReadData(events, i))
                    {
                        case WakeToken:
                            _wake.Drain();
                            break;
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

                _inbox.ProcessCancellations();
                _watches.ProcessCommands(now);
                ExpireAndRetransmit(Stopwatch.GetTimestamp());
                _completions.Flush(); // the results so far go to their callers before new SYNs take the thread
                _ports.ReturnIdle();
                FollowReservations(); // ports the pool released (a growth is followed before its SYN goes out)

                _inbox.StartChecks(_watches, Stopwatch.GetTimestamp(), _maxStartsPerIteration);
                FlushSends();
                RunLoopActions();
                _completions.Flush();
            }
        }
        catch (Exception exception)
        {
            _fault = exception;
            _metrics.LoopFaulted(exception);
        }
        finally
        {
            NativeMemory.Free(events);
            Shutdown();
        }
    }

    /// <summary>Stopwatch ticks until the nearest deadline, retransmission, due watch or look for idle ports: 0 for at once, -1 for none.</summary>
    private long WaitTimeout()
    {
        if (!_inbox.TryPrepareToSleep(_hasLoopWork))
        {
            return 0;
        }

        long now = Stopwatch.GetTimestamp();
        long nearest = Math.Min(_deadlines.Count == 0 ? long.MaxValue : _deadlines.NearestDeadline, _watches.NextWake);
        if (_ports.UntilNextReturn is TimeSpan untilReturn)
        {
            nearest = Math.Min(nearest, now + Math.Max(0, Ticks(untilReturn)));
        }

        return nearest == long.MaxValue ? -1 : Math.Max(0, nearest - now);
    }

    /// <summary>Work of the loop's own that waits for it beside the inbox's.</summary>
    private bool HasLoopWork() => _watches.HasCommands || !_loopActions.IsEmpty;

    /// <summary>Waits in epoll for at most <paramref name="ticks"/>, as the half-open loop does.</summary>
    private int Wait(byte* events, long ticks) => EpollWaiter.WaitForEvents(_epollFd, events, MaxEvents, ticks);
}
