using System.Net;
using System.Diagnostics;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// The one owner of a check's accounting, for every engine: <see cref="TryBegin"/> takes a place
/// under <see cref="TcpShakerOptions.MaxChecksInFlight"/> and raises the in-flight gauge;
/// <c>Complete</c> (a result) or <c>Abandon</c> (canceled or failed) gives both back.
/// Every check that began ends exactly once, through one of the two.
/// </summary>
internal sealed class CheckAccounting(int limit, TcpShakerMode mode, TcpShakerMetrics metrics)
{
    private int _count;

    /// <summary>Checks begun and not yet ended, queued or in flight.</summary>
    internal int Count => Volatile.Read(ref _count);

    /// <summary>Takes a place for a check of <paramref name="endPoint"/>.</summary>
    /// <param name="endPoint">The address to check.</param>
    /// <param name="refused">When the limit is reached: the check's result (recorded as completed).</param>
    /// <returns>Whether the check may go ahead; it must then end through <c>Complete</c> or <c>Abandon</c>.</returns>
    internal bool TryBegin(IPEndPoint endPoint, out TcpCheckResult refused)
    {
        metrics.CheckStarted();
        if (Interlocked.Increment(ref _count) <= limit)
        {
            refused = default;
            return true;
        }

        Interlocked.Decrement(ref _count);
        refused = CheckErrors.InFlightLimitReached(endPoint);
        metrics.CheckCompleted(refused.Status, mode, refused.Elapsed, endPoint);
        return false;
    }

    /// <summary>Ends a check with its result.</summary>
    internal void Complete(in TcpCheckResult result)
    {
        metrics.CheckCompleted(result.Status, mode, result.Elapsed, result.RemoteEndPoint);
        Interlocked.Decrement(ref _count);
    }

    /// <summary>Ends a check without a result: canceled, or its engine stopped.</summary>
    internal void Abandon()
    {
        metrics.CheckEnded();
        Interlocked.Decrement(ref _count);
    }

    /// <summary>Ends a loop's check with its result, and delivers the result to it. Loop thread.</summary>
    internal void Complete(LoopCheck check, in TcpCheckResult result)
    {
        Complete(result);
        check.Complete(result);
    }

    /// <summary>Ends a loop's check with the result its errno means (0: open). Loop thread.</summary>
    internal void Finish(LoopCheck check, int errno, long now) =>
        Complete(check, CheckErrors.FromErrno(check.EndPoint, Stopwatch.GetElapsedTime(check.RequestedAt, now), errno));

    /// <summary>Ends a loop's check without a result: canceled (<paramref name="exception"/> null) or failed.</summary>
    internal void Abandon(LoopCheck check, Exception? exception)
    {
        Abandon();
        check.Abandon(exception);
    }
}
