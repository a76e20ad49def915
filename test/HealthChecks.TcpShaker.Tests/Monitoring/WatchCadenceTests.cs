using System.Diagnostics;
using System.Net;
using HealthChecks.TcpShaker.Monitoring;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>A watch's schedule (<see cref="WatchCadence"/>): the interval its state picks, the grid, the jitter.</summary>
public sealed class WatchCadenceTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Loopback, 5432);

    [Fact]
    public async Task Intervals_follow_the_state_fast_while_pending_and_down_while_down()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        var options = new TcpWatchOptions
        {
            Interval = TimeSpan.FromSeconds(2), FastInterval = TimeSpan.FromMilliseconds(500), DownInterval = TimeSpan.FromSeconds(5), Rise = 2, Fall = 2,
        };
        TcpWatch watch = NewWatch(monitor, options);
        var cadence = new WatchCadence(watch, TimeProvider.System);

        Assert.Equal(Ticks(0.5), cadence.NextIntervalTicks());  // no verdict yet: a change is pending
        Feed(watch, open: true);
        Assert.Equal(Ticks(2), cadence.NextIntervalTicks());    // up, nothing pending
        Feed(watch, open: false);
        Assert.Equal(Ticks(0.5), cadence.NextIntervalTicks());  // up, one failure: pending
        Feed(watch, open: false);
        Assert.Equal(Ticks(5), cadence.NextIntervalTicks());    // down
        Feed(watch, open: true);
        Assert.Equal(Ticks(0.5), cadence.NextIntervalTicks());  // down, one success: pending
    }

    [Fact]
    public async Task Jitter_stays_within_its_fraction_and_the_schedule_never_drifts()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), Jitter = 0.2, Rise = 1 });
        var cadence = new WatchCadence(watch, TimeProvider.System);
        Feed(watch, open: true); // up: the plain interval applies
        long interval = Ticks(1);
        long start = Stopwatch.GetTimestamp();
        cadence.GridTicks = start;

        long previousGrid = start;
        long smallest = long.MaxValue, largest = long.MinValue;
        for (int round = 1; round <= 2000; round++)
        {
            long due = cadence.Next(previousGrid); // a check that took no time
            Assert.Equal(start + (round * interval), cadence.GridTicks); // the schedule itself never moves
            smallest = Math.Min(smallest, due - cadence.GridTicks);
            largest = Math.Max(largest, due - cadence.GridTicks);
            previousGrid = cadence.GridTicks;
        }

        Assert.InRange(smallest, 0, interval / 50);                 // offsets start near 0...
        Assert.InRange(largest, interval / 5 * 9 / 10, interval / 5); // ...and reach up to, never past, 20%

        // A check that outlasts its interval skips the places it missed instead of pushing later ones.
        long late = cadence.GridTicks + (interval * 7 / 2);
        cadence.Next(late);
        Assert.Equal(start + ((2000 + 4) * interval), cadence.GridTicks);
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    private static TcpWatch NewWatch(TcpShakerMonitor monitor, TcpWatchOptions options) =>
        new(monitor, TcpEndpoint.FromIPEndPoint(Target), options, TimeProvider.System);

    private static TcpHealthChange? Feed(TcpWatch watch, bool open) => watch.Record(
        open ? new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(1), Target, 0)
             : new TcpCheckResult(TcpCheckStatus.Refused, TimeSpan.Zero, Target, 111) { ErrorKind = TcpCheckErrorKind.OperatingSystem });
}
