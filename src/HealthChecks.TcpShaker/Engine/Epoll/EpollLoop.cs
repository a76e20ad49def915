using System.Diagnostics;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>
/// One half-open checking loop on a dedicated thread: take requests from a channel, start at most
/// <see cref="TcpShakerOptions.MaxConnectsPerIteration"/> connects, wait in epoll, and on each
/// event read <c>SO_ERROR</c> and close the socket at once (RST, never the handshake ACK).
/// Deadlines live in the loop; <c>epoll_wait</c> sleeps until the nearest one.
/// </summary>
/// <remarks>
/// Split by concern: this file holds the iteration and the entry points other threads call;
/// <c>EpollLoop.Wait.cs</c> the sleep and wake-up, <c>EpollLoop.Sockets.cs</c> a check socket's life,
/// <c>EpollLoop.Deadlines.cs</c> timeouts, <c>EpollLoop.Shutdown.cs</c> the exit,
/// <see cref="LoopInbox"/> what other threads hand it, <see cref="LoopWatches"/> the watches it runs,
/// <c>EpollLoop.TestHooks.cs</c> what tests reach into.
/// </remarks>
internal sealed unsafe partial class EpollLoop : ICheckLoop
{
    private const int MaxEvents = 256;

    private readonly InFlightTable _inFlight = new(256);
    private readonly DeadlineHeap _deadlines;
    private readonly TcpShakerMetrics _metrics;
    private readonly CheckAccounting _accounting;
    private readonly int _maxConnectsPerIteration;
    private readonly int _epollFd;
    private readonly WakeSignal _wake;
    private readonly LoopWatches _watches;
    private readonly LoopInbox _inbox;
    private readonly CompletionQueue _completions = new();
    private readonly Func<bool> _hasLoopWork;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _raisePriority;
    private readonly TaskCompletionSource<int> _priority = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Exception? _fault;

    /// <exception cref="EngineStartException">No epoll instance or eventfd could be made.</exception>
    internal EpollLoop(int index, int maxConnectsPerIteration, TcpShakerMetrics metrics, CheckAccounting accounting, bool raisePriority = false)
    {
        _raisePriority = raisePriority;
        _deadlines = new DeadlineHeap(_inFlight);
        _metrics = metrics;
        _accounting = accounting;
        _maxConnectsPerIteration = maxConnectsPerIteration;
        _epollFd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        if (_epollFd < 0)
        {
            throw new EngineStartException("epoll_create1", Libc.LastErrno);
        }

        try
        {
            _wake = WakeSignal.Create();
        }
        catch (EngineStartException)
        {
            Libc.Close(_epollFd);
            throw;
        }

        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLIN, WakeToken);
        if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, _wake.Fd, record) != 0)
        {
            int errno = Libc.LastErrno;
            _wake.Dispose();
            Libc.Close(_epollFd);
            throw new EngineStartException("epoll_ctl(eventfd)", errno);
        }

        _watches = new LoopWatches(this, accounting, _wake, _stopped.Task);
        _inbox = new LoopInbox(this, _wake, accounting, StoppedException);
        _hasLoopWork = HasLoopWork;
        _thread = new Thread(Run) { IsBackground = true, Name = $"TcpShaker epoll loop {index}" };
    }

    /// <inheritdoc/>
    public CompletionQueue Completions => _completions;

    /// <summary>The watches this loop runs.</summary>
    internal LoopWatches Watches => _watches;

    /// <summary>Completes when the loop thread has exited and every check it held has completed.</summary>
    internal Task Stopped => _stopped.Task;

    /// <summary>Once the thread runs: 0, or the errno that refused <see cref="TcpShakerOptions.RaiseLoopPriority"/>.</summary>
    internal Task<int> PriorityRaised => _priority.Task;

    /// <summary>The exception that killed the loop, if one did.</summary>
    internal Exception? Fault => _fault;

    internal void Start() => _thread.UnsafeStart();

    /// <summary>Queues a check. Any thread.</summary>
    internal void Enqueue(CheckOperation operation) => _inbox.Enqueue(operation);

    /// <summary>Asks the loop to cancel a check. Any thread (the token's callback).</summary>
    public void RequestCancellation(CheckOperation operation, short version) => _inbox.RequestCancellation(operation, version);

    /// <summary>Asks the loop to exit; <see cref="Stopped"/> completes when it has. Any thread.</summary>
    internal void Stop() => _inbox.Stop();

    private void Run()
    {
        _priority.TrySetResult(_raisePriority ? LoopPriority.TryRaise() : 0);
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
                    ulong token = EpollEvent.ReadData(events, i);
                    if (token == WakeToken)
                    {
                        _wake.Drain();
                    }
                    else
                    {
                        OnSocketEvent(token, now);
                    }
                }

                _inbox.ProcessCancellations();
                _watches.ProcessCommands(now);
                ExpireDeadlines(Stopwatch.GetTimestamp());
                _completions.Flush(); // the results so far go to their callers before new connects take the thread
                CloseExpiredSockets();

                _inbox.StartChecks(_watches, Stopwatch.GetTimestamp(), _maxConnectsPerIteration);
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
}
