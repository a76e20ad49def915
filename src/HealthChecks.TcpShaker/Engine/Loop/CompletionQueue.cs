using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// A loop's results on their way to the callers. The loop queues each result (<see cref="Add"/>) and, once a
/// step of its iteration is done, asks the thread pool for a worker (<see cref="Flush"/>), at most one request
/// at a time; a worker delivers results one after another, each caller's continuation on that worker, and asks
/// for a helper whenever it starts with more waiting. So a burst of results costs a few hand-offs instead of one
/// a check, the workers share a burst as the backlog grows, and a continuation that blocks or a worker the
/// scheduler preempts holds back only the result it is delivering.
/// </summary>
internal sealed class CompletionQueue : IThreadPoolWorkItem
{
    // A worker hands its thread back to the pool this often at the least, so other work items get their turn.
    private const long QuantumMilliseconds = 15;

    private readonly ConcurrentQueue<(CheckOperation Operation, TcpCheckResult Result)> _results = new();
    private int _workerRequested;

    /// <summary>Queues a result for its caller. Loop thread.</summary>
    internal void Add(CheckOperation operation, in TcpCheckResult result) => _results.Enqueue((operation, result));

    /// <summary>Makes sure a worker comes for the results queued so far. Loop thread: after each step that completes checks, and at exit.</summary>
    internal void Flush()
    {
        if (!_results.IsEmpty)
        {
            RequestWorker();
        }
    }

    /// <summary>Delivers results until none is left or the quantum is used up. A pool thread.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        // From here on a new result asks for a new worker (the loop's next Flush, or this worker below).
        Volatile.Write(ref _workerRequested, 0);
        if (!_results.TryDequeue(out (CheckOperation Operation, TcpCheckResult Result) next))
        {
            return;
        }

        if (!_results.IsEmpty)
        {
            RequestWorker(); // more than one result: a second worker shares them, and asks for a third if it starts with more
        }

        ExceptionDispatchInfo? thrown = null;
        long started = Environment.TickCount64;
        do
        {
            try
            {
                next.Operation.Deliver(next.Result);
            }
            catch (Exception exception)
            {
                // A throwing continuation would have ended the process on a work item of its own; it still does,
                // once the results this worker holds back have gone to their callers.
                thrown ??= ExceptionDispatchInfo.Capture(exception);
                break;
            }

            if (Environment.TickCount64 - started >= QuantumMilliseconds)
            {
                break;
            }
        }
        while (_results.TryDequeue(out next));

        if (!_results.IsEmpty)
        {
            RequestWorker();
        }

        thrown?.Throw();
    }

    private void RequestWorker()
    {
        if (Interlocked.Exchange(ref _workerRequested, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }
}
