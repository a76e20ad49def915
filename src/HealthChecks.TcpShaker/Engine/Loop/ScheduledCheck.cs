using System.Diagnostics;
using System.Net;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// A check a loop runs again and again on a schedule of its own (a watch's probe, made by the monitor):
/// the loop keeps it in <see cref="LoopWatches"/>, starts it when <see cref="Due"/>, and hands it its result
/// on the loop thread; the subclass records the result and says when it is due next.
/// </summary>
internal abstract class ScheduledCheck : LoopCheck
{
    private readonly long _timeoutTicks;

    /// <param name="endPoint">The address checked every round.</param>
    /// <param name="timeout">Each round's timeout.</param>
    private protected ScheduledCheck(IPEndPoint endPoint, TimeSpan timeout)
    {
        EndPoint = endPoint;
        _timeoutTicks = (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>The watches of the loop that runs it; set when it is added there.</summary>
    internal LoopWatches? Watches { get; set; }

    /// <summary>When the next round is due, in <see cref="Stopwatch"/> ticks. Loop thread.</summary>
    internal long Due { get; set; }

    /// <summary>Its place in the loop's schedule heap, or -1 while a round runs (or once removed). Loop thread.</summary>
    internal int HeapIndex { get; set; } = -1;

    /// <summary>Set by the loop when it is removed: a result that still arrives is dropped. Loop thread.</summary>
    internal bool Removed { get; set; }

    /// <summary>When the first round is due, the check being added at <paramref name="now"/> (<see cref="Stopwatch"/> ticks). Loop thread.</summary>
    internal abstract long FirstDue(long now);

    /// <summary>Starts a round now. Loop thread.</summary>
    internal void Begin(long now)
    {
        RequestedAt = now;
        Deadline = now + _timeoutTicks;
    }
}
