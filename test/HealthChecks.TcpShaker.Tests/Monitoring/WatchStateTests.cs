using System.Diagnostics;
using System.Net;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>HAProxy's counter model and the schedule, on a watch fed results directly.</summary>
public sealed class WatchStateTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Loopback, 5432);

    [Fact]
    public async Task Rise_and_fall_follow_haproxys_counter_model()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 2, Fall = 3 });

        Assert.Null(Feed(watch, open: true));                          // 1 of 2 successes: still Unknown
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        TcpHealthChange up = Feed(watch, open: true)!;                  // 2 successes: Up
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up), (up.Previous, up.Current));
        Assert.Equal("2 successful checks in a row", up.Reason);

        Assert.Null(Feed(watch, open: false));                         // a failure while up counts toward fall...
        Assert.Null(Feed(watch, open: false));
        Assert.Equal(2, watch.ConsecutiveFailures);
        Assert.Null(Feed(watch, open: true));                          // ...and one success resets it
        Assert.Equal(0, watch.ConsecutiveFailures);
        Assert.Null(Feed(watch, open: false));
        Assert.Null(Feed(watch, open: false));
        TcpHealthChange down = Feed(watch, open: false)!;               // 3 in a row: Down
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Down), (down.Previous, down.Current));
        Assert.Equal("3 refusals in a row", down.Reason);
        Assert.Matches(@"^127\.0\.0\.1:5432 is down since \d\d:\d\d:\d\dZ: 3 refusals in a row$", watch.Describe());

        Assert.Null(Feed(watch, open: true));                          // a success while down counts toward rise...
        Assert.Null(Feed(watch, open: false));                         // ...and a failure resets it
        Assert.Null(Feed(watch, open: true));
        Assert.Equal(TcpTargetHealth.Down, watch.Health);
        Assert.NotNull(Feed(watch, open: true));
        Assert.Equal(TcpTargetHealth.Up, watch.Health);

        Assert.Equal(3, watch.RecentChanges.Count);
        Assert.Equal(12, watch.Checks);
        Assert.Equal(12, watch.RecentResults.Count);
    }

    [Fact]
    public async Task Mixed_failures_are_named_by_count_and_the_last_status()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 1, Fall = 2 });

        watch.Record(new TcpCheckResult(TcpCheckStatus.Timeout, TimeSpan.FromSeconds(1), Target, 0), DateTimeOffset.UtcNow);
        TcpHealthChange down = watch.Record(new TcpCheckResult(TcpCheckStatus.Refused, TimeSpan.Zero, Target, 111), DateTimeOffset.UtcNow)!;

        Assert.Equal("2 failed checks in a row (last: Refused)", down.Reason);
        Assert.Equal(TcpTargetHealth.Down, down.Current);
    }

    [Fact]
    public async Task The_history_keeps_the_last_results_oldest_first()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions());

        for (int i = 0; i < TcpWatch.HistoryLength + 5; i++)
        {
            watch.Record(new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(i), Target, 0), DateTimeOffset.UtcNow);
        }

        IReadOnlyList<TcpWatchSample> history = watch.RecentResults;
        Assert.Equal(TcpWatch.HistoryLength, history.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(5), history[0].Elapsed);
        Assert.Equal(TimeSpan.FromMilliseconds(TcpWatch.HistoryLength + 4), history[^1].Elapsed);
    }

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

        Assert.Equal(Ticks(0.5), watch.NextIntervalTicks());  // no verdict yet: a change is pending
        Feed(watch, open: true);
        Feed(watch, open: true);
        Assert.Equal(Ticks(2), watch.NextIntervalTicks());    // up, nothing pending
        Feed(watch, open: false);
        Assert.Equal(Ticks(0.5), watch.NextIntervalTicks());  // up, one failure: pending
        Feed(watch, open: false);
        Assert.Equal(Ticks(5), watch.NextIntervalTicks());    // down
        Feed(watch, open: true);
        Assert.Equal(Ticks(0.5), watch.NextIntervalTicks());  // down, one success: pending
    }

    [Fact]
    public async Task Jitter_stays_within_its_fraction_and_the_schedule_never_drifts()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), Jitter = 0.2, Rise = 1 });
        Feed(watch, open: true); // up: the plain interval applies
        long interval = Ticks(1);
        long start = Stopwatch.GetTimestamp();
        watch.GridTicks = start;

        long previousGrid = start;
        long smallest = long.MaxValue, largest = long.MinValue;
        for (int round = 1; round <= 2000; round++)
        {
            long due = watch.ScheduleNext(previousGrid); // a check that took no time
            Assert.Equal(start + (round * interval), watch.GridTicks); // the schedule itself never moves
            smallest = Math.Min(smallest, due - watch.GridTicks);
            largest = Math.Max(largest, due - watch.GridTicks);
            previousGrid = watch.GridTicks;
        }

        Assert.InRange(smallest, 0, interval / 50);                 // offsets start near 0...
        Assert.InRange(largest, interval / 5 * 9 / 10, interval / 5); // ...and reach up to, never past, 20%

        // A check that outlasts its interval skips the places it missed instead of pushing later ones.
        long late = watch.GridTicks + (interval * 7 / 2);
        watch.ScheduleNext(late);
        Assert.Equal(start + ((2000 + 4) * interval), watch.GridTicks);
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    private static TcpWatch NewWatch(TcpShakerMonitor monitor, TcpWatchOptions options) =>
        new(monitor, TcpEndpoint.FromIPEndPoint(Target), options);

    private static TcpHealthChange? Feed(TcpWatch watch, bool open) => watch.Record(
        open ? new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(1), Target, 0)
             : new TcpCheckResult(TcpCheckStatus.Refused, TimeSpan.Zero, Target, 111) { ErrorKind = TcpCheckErrorKind.OperatingSystem },
        DateTimeOffset.UtcNow);
}
