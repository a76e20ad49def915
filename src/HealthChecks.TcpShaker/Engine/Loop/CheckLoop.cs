using System.Diagnostics;
using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// One checking loop on a dedicated thread, for either transport: take requests from the inbox and due
/// watches, start at most <see cref="TcpShakerOptions.MaxConnectsPerIteration"/> checks an iteration through
/// the <see cref="ILoopTransport"/>, wait in epoll until the nearest deadline, hand each event to the
/// transport, and end what timed out. The transport says how a check goes on the wire; the loop owns
/// everything else.
/// </summary>
/// <remarks>
/// Split by concern: this file holds the iteration and the entry points other threads call;
/// <c>CheckLoop.Wait.cs</c> the sleep and wake-up, <c>CheckLoop.Checks.cs</c> the starts, cancellations and
/// slots, <c>CheckLoop.Shutdown.cs</c> the exit, <c>CheckLoop.TestHooks.cs</c> what tests reach into;
/// <see cref="LoopInbox"/> what other threads hand it, <see cref="LoopWatches"/> the watches it runs.
/// </remarks>
internal sealed unsafe partial class CheckLoop
{
    private readonly ILoopTransport _transport;
    private readonly InFlightTable _inFlight = new(256);
    private readonly DeadlineHeap _deadlines;
    private readonly TcpShakerMetrics _metrics;
    private readonly CheckAccounting _accounting;
    private readonly int _maxStartsPerIteration;
    private readonly string _stopName;
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

    /// <param name="threadName">The loop thread's name.</param>
    /// <param name="stopName">What the loop is called in the error of a check it can no longer run ("checking loop").</param>
    /// <param name="transport">The transport; the loop owns it from here on, and closes it at exit (or at once when it cannot be made).</param>
    /// <param name="maxStartsPerIteration">Checks started in one iteration at the most.</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="accounting">The engine's check accounting.</param>
    /// <param name="raisePriority">Whether the thread raises its priority (<see cref="TcpShakerOptions.RaiseLoopPriority"/>).</param>
    /// <exception cref="EngineStartException">No epoll instance or eventfd could be made, or the transport could not register.</exception>
    internal CheckLoop(string threadName, string stopName, ILoopTransport transport, int maxStartsPerIteration, TcpShakerMetrics metrics, CheckAccounting accounting, bool raisePriority = false)
    {
        _transport = transport;
        _stopName = stopName;
        _raisePriority = raisePriority;
        _deadlines = new DeadlineHeap(_inFlight);
        _metrics = metrics;
        _accounting = accounting;
        _maxStartsPerIteration = maxStartsPerIteration;
        _epollFd = -1;
        try
        {
            _epollFd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
            if (_epollFd < 0)
            {
                throw new EngineStartException("epoll_create1", Libc.LastErrno);
            }

            _wake = WakeSignal.Create();
            byte* record = stackalloc byte[16];
            EpollEvent.Write(record, Libc.EPOLLIN, WakeToken);
            if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, _wake.Fd, record) != 0)
            {
                throw new EngineStartException("epoll_ctl(eventfd)", Libc.LastErrno);
            }

            transport.Attach(this);
        }
        catch
        {
            transport.Close();
            _wake?.Dispose();
            if (_epollFd >= 0)
            {
                Libc.Close(_epollFd);
            }

            throw;
        }

        _watches = new LoopWatches(_wake, _stopped.Task);
        _inbox = new LoopInbox(this, _wake, accounting, StoppedException);
        _hasLoopWork = HasLoopWork;
        _thread = new Thread(Run) { IsBackground = true, Name = threadName };
    }

    /// <summary>The loop's epoll instance, for the transport to register its descriptors with.</summary>
    internal int EpollFd => _epollFd;

    /// <summary>The in-flight checks by slot, for the transport. Loop thread.</summary>
    internal InFlightTable InFlight => _inFlight;

    /// <summary>The in-flight checks by deadline, for the transport. Loop thread.</summary>
    internal DeadlineHeap Deadlines => _deadlines;

    /// <summary>The transport the loop drives.</summary>
    internal ILoopTransport Transport => _transport;

    /// <summary>Where the loop hands results to callers (loop thread).</summary>
    internal CompletionQueue Completions => _completions;

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
    internal void RequestCancellation(CheckOperation operation, short version) => _inbox.RequestCancellation(operation, version);

    /// <summary>Asks the loop to exit; <see cref="Stopped"/> completes when it has. Any thread.</summary>
    internal void Stop() => _inbox.Stop();

    private void Run()
    {
        _priority.TrySetResult(_raisePriority ? LoopPriority.TryRaise() : 0);
        int maxEvents = _transport.MaxEvents;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(maxEvents * EpollEvent.Size));
        try
        {
            while (!_inbox.Stopping)
            {
                int count = Wait(events, maxEvents, WaitTimeout());
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
                        _transport.OnEvent(token, now);
                    }
                }

                ProcessCancellations();
                ProcessWatchCommands(now);
                _transport.Expire(Stopwatch.GetTimestamp());
                _completions.Flush(); // the results so far go to their callers before new checks take the thread

                StartChecks(Stopwatch.GetTimestamp());
                _transport.Flush();
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
