using System.Diagnostics;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// A watch's schedule, in one place for both drivers (the loop's <see cref="WatchProbe"/> and the
/// <see cref="TimerWatchDriver"/>): the first check at a random point of the first interval, each next one at
/// the next place of a fixed grid plus jitter, the interval chosen by the watch's state (HAProxy's
/// <c>inter</c>, <c>fastinter</c>, <c>downinter</c>). Times are ticks of <see cref="TimeProvider.GetTimestamp"/>
/// of the clock it reads (for the system clock: <see cref="Stopwatch"/> ticks, the loops' own). One driver
/// owns it; one thread at a time.
/// </summary>
/// <param name="watch">The watch scheduled; its state picks the interval.</param>
/// <param name="clock">The clock the schedule reads and is kept in.</param>
internal sealed class WatchCadence(TcpWatch watch, TimeProvider clock)
{
    private long? _steadyPlaceTicks;

    /// <summary>Where the last check was due on the grid, without its jitter.</summary>
    internal long GridTicks { get; set; }

    /// <summary>The interval to the next check in the watch's current state, in ticks.</summary>
    internal long NextIntervalTicks() => Ticks(watch.CurrentInterval());

    /// <summary>The first check, the watch being added now (<see cref="First(long)"/> at the clock's now).</summary>
    internal long First() => First(clock.GetTimestamp());

    /// <summary>
    /// Schedules the first check at a random point of the first interval (with no verdict yet, the fast
    /// one), so watches added together spread evenly over it, as HAProxy spreads its start-up checks.
    /// With a fast interval, the watch's place in its steady interval is drawn too.
    /// </summary>
    /// <returns>When the first check is due.</returns>
    internal long First(long now)
    {
        GridTicks = now + (long)(Random.Shared.NextDouble() * NextIntervalTicks());
        TcpWatchOptions options = watch.Options;
        if (options.FastInterval is { } fast && fast != options.Interval)
        {
            _steadyPlaceTicks = now + (long)(Random.Shared.NextDouble() * Ticks(options.Interval));
        }

        return GridTicks;
    }

    /// <summary>The next check, after a round that ended now (<see cref="Next(long)"/> at the clock's now).</summary>
    internal long Next() => Next(clock.GetTimestamp());

    /// <summary>
    /// Schedules the next check after one that was due at <see cref="GridTicks"/>: the next place on the
    /// schedule, never earlier than <paramref name="now"/> (a check that outlasted its interval skips
    /// the places it missed instead of pushing every later one), plus this round's jitter. With a
    /// <see cref="TcpWatchOptions.FastInterval"/>, a watch back at its steady interval returns to its own
    /// place in that interval, drawn at random when it started, so watches that sped up together do not
    /// stay bunched in the fast interval's span.
    /// </summary>
    /// <returns>When the next check is due.</returns>
    internal long Next(long now)
    {
        TcpWatchOptions options = watch.Options;
        long interval = NextIntervalTicks();
        long grid = GridTicks + interval;
        if (_steadyPlaceTicks is long place && interval == Ticks(options.Interval))
        {
            // The first point of the watch's own lattice (place + k x Interval) at least a fast interval after the last check.
            long earliest = GridTicks + Math.Min(Ticks(options.FastInterval!.Value), interval);
            grid = earliest <= place ? place : place + ((earliest - place + interval - 1) / interval * interval);
        }

        if (grid < now)
        {
            grid += (now - grid + interval - 1) / interval * interval;
        }

        GridTicks = grid;
        return grid + JitterTicks(interval);
    }

    private long Ticks(TimeSpan interval) => (long)(interval.TotalSeconds * clock.TimestampFrequency);

    private long JitterTicks(long interval) => watch.Options.Jitter == 0 ? 0 : (long)(Random.Shared.NextDouble() * watch.Options.Jitter * interval);
}
