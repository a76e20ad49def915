using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// One half-open checking loop on a dedicated thread: take requests from a channel, start at most
/// <see cref="TcpShakerOptions.MaxConnectsPerIteration"/> connects, wait in epoll, and on each
/// event read <c>SO_ERROR</c> and close the socket at once (RST, never the handshake ACK).
/// Deadlines live in the loop; <c>epoll_wait</c> sleeps until the nearest one.
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = ulong.MaxValue;
    private const int MaxClosesPerIteration = 256;

    private readonly Channel<CheckOperation> _requests = Channel.CreateUnbounded<CheckOperation>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly ConcurrentQueue<(CheckOperation Operation, short Version)> _cancellations = new();
    private readonly ConcurrentQueue<Action<EpollLoop>> _loopActions = new();
    private readonly InFlightTable _inFlight = new(256);
    private readonly Queue<int> _expiredFds = new();
    private readonly DeadlineHeap _deadlines;
    private readonly TcpShakerMetrics _metrics;
    private readonly CheckLimiter _limiter;
    private readonly int _maxConnectsPerIteration;
    private readonly int _epollFd;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static bool s_preciseWait = Environment.Is64BitProcess;
    private int _wakeArmed;
    private volatile bool _stopping;
    private volatile Exception? _fault;

    internal EpollLoop(int index, int maxConnectsPerIteration, TcpShakerMetrics metrics, CheckLimiter limiter)
    {
        _deadlines = new DeadlineHeap(_inFlight);
        _metrics = metrics;
        _limiter = limiter;
        _maxConnectsPerIteration = maxConnectsPerIteration;
        _epollFd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        if (_epollFd < 0)
        {
            throw new EngineStartException("epoll_create1", Libc.LastErrno);
        }

        _wakeFd = Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (_wakeFd < 0)
        {
            int errno = Libc.LastErrno;
            Libc.Close(_epollFd);
            throw new EngineStartException("eventfd", errno);
        }

        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLIN, WakeToken);
        if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, _wakeFd, record) != 0)
        {
            int errno = Libc.LastErrno;
            Libc.Close(_wakeFd);
            Libc.Close(_epollFd);
            throw new EngineStartException("epoll_ctl(eventfd)", errno);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"TcpShaker epoll loop {index}" };
    }

    /// <summary>Completes when the loop thread has exited and every check it held has completed.</summary>
    internal Task Stopped => _stopped.Task;

    /// <summary>The exception that killed the loop, if one did.</summary>
    internal Exception? Fault => _fault;

    internal void Start() => _thread.UnsafeStart();

    /// <summary>Queues a check. Any thread.</summary>
    internal void Enqueue(CheckOperation operation)
    {
        if (!_requests.Writer.TryWrite(operation))
        {
            Abandon(operation, StoppedException());
            return;
        }

        Wake();
    }

    /// <summary>Asks the loop to cancel a check. Any thread (the token's callback).</summary>
    internal void RequestCancellation(CheckOperation operation, short version)
    {
        _cancellations.Enqueue((operation, version));
        Wake();
    }

    /// <summary>Runs <paramref name="action"/> on the loop thread between two iterations (tests and fault injection).</summary>
    internal void Post(Action<EpollLoop> action)
    {
        _loopActions.Enqueue(action);
        Wake();
    }

    internal void Stop()
    {
        _stopping = true;
        Volatile.Write(ref _wakeArmed, 1);
        Wake();
    }

    private Exception StoppedException() => _fault is { } fault
        ? new InvalidOperationException(
            $"The TcpShaker checking loop failed ({fault.GetType().Name}: {fault.Message}) and no longer runs checks.",
            fault)
        : new OperationCanceledException("The TcpShaker engine was stopped before the check ran.");

    private void Wake()
    {
        // Only a loop that is about to block (or blocked) in epoll_wait needs the syscall.
        if (Interlocked.Exchange(ref _wakeArmed, 0) == 1)
        {
            ulong one = 1;
            Libc.Write(_wakeFd, &one, sizeof(ulong));
        }
    }

    private void Run()
    {
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EpollEvent.Size));
        try
        {
            while (!_stopping)
            {
                int count = Wait(events, WaitTimeout());
                long now = Stopwatch.GetTimestamp();
                Volatile.Write(ref _wakeArmed, 0);
                if (count < 0)
                {
                    int errno = Libc.LastErrno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw new InvalidOperationException($"epoll_wait failed with errno {errno}.");
                }

                for (int i = 0; i < count; i++)
                {
                    ulong token = EpollEvent.ReadData(events, i);
                    if (token == WakeToken)
                    {
                        ulong value;
                        Libc.Read(_wakeFd, &value, sizeof(ulong));
                    }
                    else
                    {
                        OnSocketEvent(token, now);
                    }
                }

                ProcessCancellations();
                ExpireDeadlines(Stopwatch.GetTimestamp());
                CloseExpiredSockets();
                StartQueuedChecks();
                RunLoopActions();
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

    /// <summary>Stopwatch ticks until the nearest deadline: 0 for at once, -1 for no deadline.</summary>
    private long WaitTimeout()
    {
        if (HasImmediateWork())
        {
            return 0;
        }

        // Arm the wake-up, then look again: a request queued between the two looks either is seen
        // here or finds the flag set and writes the eventfd.
        Interlocked.Exchange(ref _wakeArmed, 1);
        if (HasImmediateWork() || _stopping)
        {
            Volatile.Write(ref _wakeArmed, 0);
            return 0;
        }

        return _deadlines.Count == 0 ? -1 : Math.Max(0, _deadlines.NearestDeadline - Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// Waits in epoll for at most <paramref name="ticks"/>. <c>epoll_pwait2</c> sleeps to the
    /// nanosecond, so a deadline fires within the kernel's timer slack; where it is missing (older
    /// kernel or C library) <c>epoll_wait</c> rounds up to whole milliseconds, up to 1 ms late.
    /// </summary>
    private int Wait(byte* events, long ticks)
    {
        if (s_preciseWait && ticks != 0)
        {
            try
            {
                Libc.Timespec timeout = default;
                if (ticks > 0)
                {
                    long nanoseconds = Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Stopwatch.Frequency));

                    // The kernel may fire a sleep's timer late by 0.1% of its length (its timer slack: 0.5 ms
                    // on a 500 ms sleep, 5 ms on 5 s). Sleep that much less: the loop then finds the deadline
                    // not yet due and sleeps the few microseconds left, whose slack is negligible.
                    nanoseconds -= nanoseconds / 1000;
                    timeout.Seconds = nanoseconds / 1_000_000_000;
                    timeout.Nanoseconds = nanoseconds % 1_000_000_000;
                }

                int count = Libc.EpollPWait2(_epollFd, events, MaxEvents, ticks > 0 ? &timeout : null, null);
                if (count >= 0 || Libc.LastErrno != Errno.ENOSYS)
                {
                    return count;
                }
            }
            catch (EntryPointNotFoundException)
            {
            }

            s_preciseWait = false;
        }

        // Round up: waking a little late is harmless, waking early spins.
        long milliseconds = ticks <= 0 ? ticks : ((ticks * 1000) + Stopwatch.Frequency - 1) / Stopwatch.Frequency;
        return Libc.EpollWait(_epollFd, events, MaxEvents, (int)Math.Min(milliseconds, int.MaxValue));
    }

    private bool HasImmediateWork() =>
        _requests.Reader.TryPeek(out _) || !_cancellations.IsEmpty || !_loopActions.IsEmpty || _expiredFds.Count > 0;

    private void StartQueuedChecks()
    {
        for (int started = 0; started < _maxConnectsPerIteration && _requests.Reader.TryRead(out CheckOperation? operation); started++)
        {
            if (operation.IsCancellationRequested)
            {
                Abandon(operation, null);
                continue;
            }

            StartCheck(operation);
        }
    }

    private void StartCheck(CheckOperation operation)
    {
        byte* address = stackalloc byte[SocketAddressWriter.MaxSize];
        (int length, int domain) = SocketAddressWriter.Write(operation.EndPoint, new Span<byte>(address, SocketAddressWriter.MaxSize));

        int fd = Libc.Socket(domain, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            Finish(operation, Libc.LastErrno, Stopwatch.GetTimestamp());
            return;
        }

        // TCP_QUICKACK = 0 puts the socket in delayed-ACK mode: the kernel holds the handshake ACK for
        // up to 200 ms, and the close() below (zero linger: RST) comes long before it.
        int zero = 0;
        Libc.Linger linger = new() { OnOff = 1, Seconds = 0 };
        if (Libc.SetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_QUICKACK, &zero, sizeof(int)) != 0
            || Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, &linger, sizeof(Libc.Linger)) != 0)
        {
            int errno = Libc.LastErrno;
            Libc.Close(fd);
            Finish(operation, errno, Stopwatch.GetTimestamp());
            return;
        }

        if (Libc.Connect(fd, address, length) == 0)
        {
            Libc.Close(fd);
            Finish(operation, 0, Stopwatch.GetTimestamp());
            return;
        }

        int connectErrno = Libc.LastErrno;
        if (connectErrno is not (Errno.EINPROGRESS or Errno.EINTR or Errno.EALREADY))
        {
            Libc.Close(fd);
            Finish(operation, connectErrno, Stopwatch.GetTimestamp());
            return;
        }

        int slot = _inFlight.Add(fd, operation);
        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLOUT | Libc.EPOLLERR | Libc.EPOLLHUP | Libc.EPOLLET, InFlightTable.Token(slot, _inFlight[slot].Generation));
        if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, fd, record) != 0)
        {
            int errno = Libc.LastErrno;
            _inFlight.Remove(slot);
            Libc.Close(fd);
            Finish(operation, errno, Stopwatch.GetTimestamp());
            return;
        }

        operation.Slot = slot;
        _deadlines.Add(slot);
    }

    private void OnSocketEvent(ulong token, long eventTime)
    {
        int slot = _inFlight.Resolve(token);
        if (slot < 0)
        {
            return; // stale: that socket is already closed and its slot reused or free
        }

        int fd = _inFlight[slot].Fd;
        int error = 0;
        int errorLength = sizeof(int);
        if (Libc.GetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_ERROR, &error, &errorLength) != 0)
        {
            error = Libc.LastErrno;
        }

        // TCP_INFO before close, and only when watched: it sees what epoll cannot, how long ago the
        // SYN-ACK arrived (a loop starved of CPU before epoll_wait returned) and whether the kernel's
        // delayed ACK already went out.
        bool watched = error == 0 && _metrics.WatchesAckLeaks;
        Libc.TcpInfoHead info = default;
        int infoLength = sizeof(Libc.TcpInfoHead);
        bool haveInfo = watched && Libc.GetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_INFO, &info, &infoLength) == 0
            && infoLength >= Libc.TcpInfoHead.RequiredLength;

        Libc.Close(fd);
        long closedAt = Stopwatch.GetTimestamp();
        _metrics.LoopReaction(closedAt - eventTime);
        if (watched)
        {
            _metrics.HandshakeClosed(
                closedAt - eventTime,
                haveInfo ? info.LastAckReceivedMilliseconds : -1,
                haveInfo && info.SegmentsOut - info.TotalRetransmits > 1); // more than the SYN went out
        }

        Finish(Release(slot), error, closedAt);
    }

    /// <summary>Test hook: handles <paramref name="token"/> as if epoll had reported it.</summary>
    internal void InjectEvent(ulong token) => OnSocketEvent(token, Stopwatch.GetTimestamp());

    /// <summary>Test hook: the epoll token of the in-flight check of <paramref name="operation"/>, if it is in flight.</summary>
    internal ulong? TokenOf(CheckOperation operation) =>
        operation.Slot >= 0 && _inFlight[operation.Slot].Operation == operation
            ? InFlightTable.Token(operation.Slot, _inFlight[operation.Slot].Generation)
            : null;

    /// <summary>Test hook: the in-flight slots' tokens, in slot order.</summary>
    internal List<ulong> InFlightTokens()
    {
        var tokens = new List<ulong>();
        for (int slot = 0; slot < _inFlight.Capacity; slot++)
        {
            if (_inFlight[slot].Operation is not null)
            {
                tokens.Add(InFlightTable.Token(slot, _inFlight[slot].Generation));
            }
        }

        return tokens;
    }

    private CheckOperation Release(int slot)
    {
        _deadlines.Remove(slot);
        CheckOperation operation = _inFlight.Remove(slot);
        operation.Slot = -1;
        return operation;
    }

    private void ExpireDeadlines(long now)
    {
        // Answer every check that is due now, and leave the closing of their sockets to
        // CloseExpiredSockets. Closing a socket that is still connecting costs about 5 µs, and checks
        // started together time out together: closing inline, the last of 10,000 would be answered
        // some 50 ms late. The fds stay ours until closed (no number can be reused meanwhile), and
        // their stale epoll events no longer resolve to a slot.
        while (_deadlines.Count > 0 && _deadlines.NearestDeadline <= now)
        {
            int slot = _deadlines.NearestSlot;
            _expiredFds.Enqueue(_inFlight[slot].Fd);
            Finish(Release(slot), Errno.ETIMEDOUT, Stopwatch.GetTimestamp(), TcpCheckStatus.Timeout);
        }
    }

    /// <summary>
    /// Closes up to <see cref="MaxClosesPerIteration"/> sockets of timed-out checks, oldest first, so a
    /// wave of timeouts never keeps the loop from its events and deadlines for more than about a
    /// millisecond. The queue drains at that rate between the loop's other work (10,000 timeouts in
    /// some 60 ms); only a SYN-ACK arriving after its check timed out could meet a socket waiting here,
    /// and its delayed ACK (200 ms) still loses to the RST of the close.
    /// </summary>
    private void CloseExpiredSockets()
    {
        for (int closed = 0; closed < MaxClosesPerIteration && _expiredFds.TryDequeue(out int fd); closed++)
        {
            Libc.Close(fd);

            // Deadlines come first: stop when one falls due, the next iteration answers it and goes on closing.
            if ((closed & 15) == 15 && _deadlines.Count > 0 && _deadlines.NearestDeadline <= Stopwatch.GetTimestamp())
            {
                return;
            }
        }
    }

    private void ProcessCancellations()
    {
        while (_cancellations.TryDequeue(out (CheckOperation Operation, short Version) request))
        {
            CheckOperation operation = request.Operation;
            if (operation.Version != request.Version || operation.Loop != this || operation.Slot < 0)
            {
                continue; // already completed, or still queued (then its flag is seen when it is dequeued)
            }

            int slot = operation.Slot;
            Libc.Close(_inFlight[slot].Fd);
            Release(slot);
            Abandon(operation, null);
        }
    }

    /// <summary>Runs the actions posted before this pass; one posted meanwhile waits for the next iteration.</summary>
    private void RunLoopActions()
    {
        if (_loopActions.IsEmpty)
        {
            return;
        }

        for (int pending = _loopActions.Count; pending > 0 && _loopActions.TryDequeue(out Action<EpollLoop>? action); pending--)
        {
            action(this);
        }
    }

    private void Finish(CheckOperation operation, int errno, long now, TcpCheckStatus? status = null)
    {
        TcpCheckStatus outcome = status ?? ErrnoClassifier.Classify(errno);
        var elapsed = Stopwatch.GetElapsedTime(operation.RequestedAt, now);
        _metrics.CheckCompleted(outcome, TcpShakerMode.HalfOpen, elapsed, operation.EndPoint);
        _limiter.Release();
        operation.Complete(new TcpCheckResult(outcome, elapsed, operation.EndPoint, outcome == TcpCheckStatus.Open ? 0 : errno));
    }

    /// <summary>Completes a check without a result: canceled (<paramref name="exception"/> null) or failed.</summary>
    private void Abandon(CheckOperation operation, Exception? exception)
    {
        _metrics.CheckEnded();
        _limiter.Release();
        if (exception is null)
        {
            operation.CompleteCanceled();
        }
        else
        {
            operation.Fail(exception);
        }
    }

    /// <summary>Closes every socket still open and completes every check still held (loop thread, at exit).</summary>
    private void Shutdown()
    {
        _requests.Writer.TryComplete();
        for (int slot = 0; slot < _inFlight.Capacity; slot++)
        {
            if (_inFlight[slot].Operation is not null)
            {
                Libc.Close(_inFlight[slot].Fd);
                Abandon(Release(slot), StoppedException());
            }
        }

        while (_requests.Reader.TryRead(out CheckOperation? operation))
        {
            Abandon(operation, StoppedException());
        }

        while (_expiredFds.TryDequeue(out int fd))
        {
            Libc.Close(fd);
        }

        while (_loopActions.TryDequeue(out _))
        {
        }

        Libc.Close(_wakeFd);
        Libc.Close(_epollFd);
        _stopped.TrySetResult();
    }
}
