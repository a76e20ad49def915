using System.Net;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// A watch of an IP address, run by an engine's loop itself: the loop keeps it on its schedule, starts its
/// check when due, and hands it the result on the loop thread, where it goes straight into the watch. Made
/// once per watch and reused every round, so a monitored check allocates nothing and costs no thread-pool
/// hop; only a change of health leaves the loop (to the monitor's event queue).
/// </summary>
internal sealed class WatchProbe : ScheduledCheck
{
    internal WatchProbe(TcpWatch watch, IPEndPoint endPoint, IWatchProbeOwner owner)
        : base(endPoint, watch.Options.Timeout)
    {
        Watch = watch;
        Owner = owner;
        Cadence = new WatchCadence(watch, TimeProvider.System); // the loops' clock: Stopwatch ticks
    }

    internal TcpWatch Watch { get; }

    /// <summary>The driver that made it: told of changes of health and of a stop of the loop.</summary>
    internal IWatchProbeOwner Owner { get; }

    /// <summary>The watch's schedule while this probe runs it.</summary>
    internal WatchCadence Cadence { get; }

    internal override long FirstDue(long now) => Cadence.First(now);

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

        Due = Cadence.Next();
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
