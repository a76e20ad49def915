using System.Diagnostics;
using System.Net;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// A watch of an IP address, run by the loop itself: the loop keeps it on its schedule, starts its
/// check when due, and records the result into the watch on the loop thread. Made once per watch and
/// reused every round, so a monitored check allocates nothing and costs no thread-pool hop; only a
/// change of health leaves the loop (to the monitor's event queue).
/// </summary>
internal sealed class WatchProbe : LoopCheck
{
    private readonly long _timeoutTicks;

    internal WatchProbe(TcpWatch watch, IPEndPoint endPoint, IWatchProbeOwner owner)
    {
        Watch = watch;
        Owner = owner;
        EndPoint = endPoint;
        _timeoutTicks = (long)(watch.Options.Timeout.TotalSeconds * Stopwatch.Frequency);
    }

    internal TcpWatch Watch { get; }

    /// <summary>The driver that made it: told of changes of health and of a stop of the loop.</summary>
    internal IWatchProbeOwner Owner { get; }

    /// <summary>The watches of the loop that runs it (half-open or raw SYN); set when it is added there.</summary>
    internal LoopWatches? Watches { get; set; }

    /// <summary>When the next check is due, in <see cref="Stopwatch"/> ticks. Loop thread.</summary>
    internal long Due { get; set; }

    /// <summary>Its place in the loop's schedule heap, or -1 while a check runs (or once removed). Loop thread.</summary>
    internal int HeapIndex { get; set; } = -1;

    /// <summary>Set by the loop when the watch is removed: a result that still arrives is dropped. Loop thread.</summary>
    internal bool Removed { get; set; }

    /// <summary>Starts a round now. Loop thread.</summary>
    internal void Begin(long now)
    {
        RequestedAt = now;
        Deadline = now + _timeoutTicks;
    }

    internal override void Complete(in TcpCheckResult result)
    {
        if (Removed)
        {
            return;
        }

        if (Watch.Record(result) is { } change)
        {
            Owner.Publish(change);
        }

        Due = Watch.ScheduleNext(Stopwatch.GetTimestamp());
        Watches!.Reschedule(this);
    }

    internal override void Abandon(Exception? exception)
    {
        // Canceled (the watch was removed mid-check): nobody waits for it. Otherwise the loop stopped under a
        // running watch, which must not keep a verdict it can no longer renew: its driver hears of it once.
        if (exception is null || Removed)
        {
            return;
        }

        Removed = true;
        Owner.LoopStopped(this, exception);
    }
}
