using System.Diagnostics;
using System.Net;
using System.Threading.Tasks.Sources;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// One check on its way through a <see cref="CheckLoop"/>: the request, and the awaitable the
/// caller holds. Pooled and reused, so a check allocates nothing in steady state.
/// </summary>
/// <remarks>
/// Only the loop thread completes an operation once it has been queued (the one exception is a
/// request the loop can no longer take, which the enqueuing thread fails). Continuations always run
/// on the thread pool, never on the loop thread: a result goes to the loop's <see cref="CompletionQueue"/>,
/// whose pool thread runs the continuation (<see cref="Deliver"/>); a failure is queued on its own.
/// </remarks>
internal sealed class CheckOperation : LoopCheck, IValueTaskSource<TcpCheckResult>
{
    private static readonly Action<object?> s_onCancel = static state => ((CheckOperation)state!).OnCancel();

    private ManualResetValueTaskSourceCore<TcpCheckResult> _core = new() { RunContinuationsAsynchronously = true };
    private readonly OperationPool _pool;
    private CancellationTokenRegistration _registration;
    private int _cancelRequested;

    // The version whose result may be taken, shifted left, with the low bit set once a reader took it.
    private int _claim;

    internal CheckOperation(OperationPool pool) => _pool = pool;

    /// <summary>The loop the request was queued to.</summary>
    internal CheckLoop Loop { get; private set; } = null!;

    internal CancellationToken CancellationToken { get; private set; }

    internal bool IsCancellationRequested => Volatile.Read(ref _cancelRequested) != 0;

    internal short Version => _core.Version;

    internal ValueTask<TcpCheckResult> Start(CheckLoop loop, IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Loop = loop;
        EndPoint = endPoint;
        RequestedAt = Stopwatch.GetTimestamp();
        Deadline = RequestedAt + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        CancellationToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(s_onCancel, this);
        }

        return new ValueTask<TcpCheckResult>(this, _core.Version);
    }

    private void OnCancel()
    {
        // The registration is disposed before the operation completes, so this cannot run for a
        // later reuse: the version read here is the one the cancellation is meant for.
        Volatile.Write(ref _cancelRequested, 1);
        Loop.RequestCancellation(this, _core.Version);
    }

    internal override void Complete(in TcpCheckResult result)
    {
        _registration.Dispose();
        Loop.Completions.Add(this, result);
    }

    /// <summary>Sets the result handed over by <see cref="Complete"/>; the continuation runs on this thread. A pool thread (the loop's <see cref="CompletionQueue"/>).</summary>
    internal void Deliver(in TcpCheckResult result)
    {
        _core.RunContinuationsAsynchronously = false;
        _core.SetResult(result);
    }

    internal override void Abandon(Exception? exception)
    {
        _registration.Dispose();
        _core.RunContinuationsAsynchronously = true; // the loop thread, or an enqueuing caller's: never run a continuation there
        _core.SetException(exception ?? new OperationCanceledException("The TCP check was canceled.", CancellationToken));
    }

    TcpCheckResult IValueTaskSource<TcpCheckResult>.GetResult(short token)
    {
        // A ValueTask may be awaited once, and only once it is complete. A caller who blocks on a
        // pending one, or awaits it twice, gets InvalidOperationException here; the operation stays
        // with the loop (or with the caller who owns it) and is never recycled while still in use.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException(
                "The TCP check has not completed yet: await its ValueTask instead of reading its result (GetAwaiter().GetResult() on a pending check).");
        }

        // Exactly one reader per version may take the result and recycle the operation. The claim
        // names the version, so a stale reader can never take a later check's result.
        int unclaimed = (ushort)token << 1;
        if (Interlocked.CompareExchange(ref _claim, unclaimed | 1, unclaimed) != unclaimed)
        {
            throw new InvalidOperationException(
                "The result of this TCP check was already taken: a ValueTask may be awaited only once (use AsTask() to await it more than once).");
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            _registration = default;
            _cancelRequested = 0;
            CancellationToken = default;
            EndPoint = null!;
            Slot = -1;
            Volatile.Write(ref _claim, (ushort)_core.Version << 1);
            _pool.Return(this);
        }
    }

    ValueTaskSourceStatus IValueTaskSource<TcpCheckResult>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<TcpCheckResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
