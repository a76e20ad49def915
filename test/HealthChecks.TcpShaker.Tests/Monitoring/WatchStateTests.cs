using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>HAProxy's counter model, staleness and history, on a watch fed results directly (the schedule: <see cref="WatchCadenceTests"/>).</summary>
public sealed class WatchStateTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Loopback, 5432);

    [Fact]
    public async Task Rise_and_fall_follow_haproxys_counter_model()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 2, Fall = 3 });

        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        TcpHealthChange up = Feed(watch, open: true)!;                  // no verdict yet: the first result decides
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up), (up.Previous, up.Current));
        Assert.Equal("1 successful check", up.Reason);
        Assert.Null(Feed(watch, open: true));

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

    [Theory]
    [InlineData(false, TcpTargetHealth.Down)]
    [InlineData(true, TcpTargetHealth.Up)]
    public async Task The_first_result_decides_a_new_watch_as_haproxy_starts_a_server(bool open, TcpTargetHealth expected)
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 5, Fall = 5 });

        TcpHealthChange change = Feed(watch, open)!;

        Assert.Equal((TcpTargetHealth.Unknown, expected), (change.Previous, change.Current));
        Assert.Equal(expected, watch.Health);
    }

    [Fact]
    public async Task A_target_that_alternates_has_a_verdict_at_once_and_keeps_it_until_fall()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 2, Fall = 2 });

        for (int i = 0; i < 20; i++)
        {
            Feed(watch, open: i % 2 == 0);
            Assert.Equal(TcpTargetHealth.Up, watch.Health); // up at the first success; one failure in a row never reaches fall 2
        }
    }

    [Fact]
    public async Task A_verdict_older_than_the_schedule_allows_is_not_served_and_the_sweep_ends_it_once()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T12:00:00Z", CultureInfo.InvariantCulture));
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker, timeProvider: clock);
        var options = new TcpWatchOptions { Interval = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromSeconds(1), Jitter = 0.5 };
        TcpWatch watch = NewWatch(monitor, options, clock);
        Assert.Equal(TimeSpan.FromSeconds(2 * ((2 * 1.5) + 1)), watch.StaleAfter); // twice (interval with its jitter + timeout)

        Feed(watch, open: true);
        clock.Advance(watch.StaleAfter);
        Assert.Equal(TcpTargetHealth.Up, watch.Health); // exactly the limit: still fresh
        Assert.Null(watch.ExpireIfStale());

        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health); // the read side never serves it, sweep or not
        Assert.Equal("no result since 12:00:00Z (a result is due at least every 8 s)", watch.UnknownReason);
        Assert.Equal("127.0.0.1:5432 has no verdict: no result since 12:00:00Z (a result is due at least every 8 s)", watch.Describe());

        TcpHealthChange expired = watch.ExpireIfStale()!;
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Unknown), (expired.Previous, expired.Current));
        Assert.Equal(watch.UnknownReason, expired.Reason);
        Assert.Null(watch.ExpireIfStale()); // once

        TcpHealthChange back = Feed(watch, open: false)!; // results again: the first one decides afresh
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Down), (back.Previous, back.Current));
        Assert.Null(watch.UnknownReason);
    }

    [Fact]
    public async Task A_watch_that_can_no_longer_check_ends_its_verdict_with_the_reason()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions());
        Assert.Null(watch.MarkUnknown("engine stopped")); // no verdict to end, but the reason is kept
        Assert.Equal("engine stopped", watch.UnknownReason);
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);

        Feed(watch, open: true);
        Assert.Null(watch.UnknownReason);
        TcpHealthChange change = watch.MarkUnknown("loop faulted: InvalidOperationException: injected")!;

        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Unknown), (change.Previous, change.Current));
        Assert.Equal("127.0.0.1:5432 has no verdict: loop faulted: InvalidOperationException: injected", change.Describe());
        Assert.Equal(0, watch.ConsecutiveSuccesses);
        Assert.Null(watch.MarkUnknown("engine stopped")); // already unknown: no second event
    }

    [Fact]
    public async Task Mixed_failures_are_named_by_count_and_the_last_status()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 1, Fall = 2 });

        Feed(watch, open: true);
        watch.Record(new TcpCheckResult(TcpCheckStatus.Timeout, TimeSpan.FromSeconds(1), Target, 0));
        TcpHealthChange down = watch.Record(new TcpCheckResult(TcpCheckStatus.Refused, TimeSpan.Zero, Target, 111))!;

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
            watch.Record(new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(i), Target, 0));
        }

        IReadOnlyList<TcpWatchSample> history = watch.RecentResults;
        Assert.Equal(TcpWatch.HistoryLength, history.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(5), history[0].Elapsed);
        Assert.Equal(TimeSpan.FromMilliseconds(TcpWatch.HistoryLength + 4), history[^1].Elapsed);
    }

    [Fact]
    public async Task The_packed_history_gives_back_each_status_time_taken_and_time_of_completion()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 23, 59, 58, 123, TimeSpan.Zero));
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker, timeProvider: clock);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions(), clock);
        TcpCheckStatus[] statuses = Enum.GetValues<TcpCheckStatus>();
        var expected = new List<TcpWatchSample>();
        for (int i = 0; i < TcpWatch.HistoryLength + 3; i++)
        {
            // Every status, microsecond times up to minutes, gaps up to an hour (the longest interval), across midnight.
            var elapsed = TimeSpan.FromMicroseconds((i * 7_919_993L) % 1_800_000_000);
            TcpCheckStatus status = statuses[i % statuses.Length];
            watch.Record(new TcpCheckResult(status, elapsed, Target, 0));
            expected.Add(new TcpWatchSample(status, elapsed, clock.GetUtcNow()));
            clock.Advance(TimeSpan.FromMilliseconds(i % 2 == 0 ? 1_001 : 3_600_000));
        }

        Assert.Equal(expected.TakeLast(TcpWatch.HistoryLength), watch.RecentResults);

        // A time taken beyond what 31 bits of microseconds hold (35 minutes) is kept as the most they hold.
        watch.Record(new TcpCheckResult(TcpCheckStatus.Timeout, TimeSpan.FromHours(2), Target, 0));
        Assert.Equal(TimeSpan.FromMicroseconds(int.MaxValue), watch.RecentResults[^1].Elapsed);
    }

    [Fact]
    public async Task The_change_history_grows_as_changes_come_and_keeps_the_last_ones_oldest_first()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        TcpWatch watch = NewWatch(monitor, new TcpWatchOptions { Rise = 1, Fall = 1 });
        Assert.Empty(watch.RecentChanges);

        var changes = new List<TcpHealthChange>();
        for (int i = 0; i < TcpWatch.ChangeHistoryLength + 7; i++)
        {
            changes.Add(Feed(watch, open: i % 2 == 0)!);
            Assert.Equal(changes.TakeLast(TcpWatch.ChangeHistoryLength), watch.RecentChanges);
        }
    }

    [Fact]
    public async Task Watches_with_the_same_settings_share_one_copy_and_a_later_change_of_the_callers_options_reaches_none()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker, new TcpWatchOptions { Interval = TimeSpan.FromHours(1) });
        var options = new TcpWatchOptions { Interval = TimeSpan.FromHours(1), Rise = 4 };
        using TcpWatch first = monitor.Watch("127.0.0.1:1", options);
        using TcpWatch second = monitor.Watch("127.0.0.1:2", options);
        using TcpWatch third = monitor.Watch("127.0.0.1:3", new TcpWatchOptions { Interval = TimeSpan.FromHours(1), Rise = 4 });
        Assert.Same(first.Options, second.Options);
        Assert.Same(first.Options, third.Options);
        Assert.NotSame(options, first.Options);

        options.Rise = 7; // the caller's object changes: the watches keep what they started with, the next watch gets its own
        using TcpWatch fourth = monitor.Watch("127.0.0.1:4", options);
        Assert.Equal(4, first.Options.Rise);
        Assert.Equal(7, fourth.Options.Rise);
        using TcpWatch defaults = monitor.Watch("127.0.0.1:5");
        Assert.Equal(TimeSpan.FromHours(1), defaults.Options.Interval);
        Assert.Equal(2, defaults.Options.Rise);
    }

    [Fact]
    public void Two_options_have_the_same_settings_only_when_every_setting_is_equal()
    {
        // Each public setting changed alone makes a difference: a setting added later without a comparison fails here.
        foreach (System.Reflection.PropertyInfo property in typeof(TcpWatchOptions).GetProperties().Where(p => p.CanWrite))
        {
            var changed = new TcpWatchOptions();
            object? other = property.PropertyType switch
            {
                Type t when t == typeof(TimeSpan) || t == typeof(TimeSpan?) => TimeSpan.FromSeconds(17),
                Type t when t == typeof(int) => 17,
                Type t when t == typeof(double) => 0.17,
                Type t when t == typeof(bool) => true,
                Type t when t == typeof(System.Net.Sockets.AddressFamily?) => System.Net.Sockets.AddressFamily.InterNetworkV6,
                _ => throw new InvalidOperationException($"No other value for {property.Name} ({property.PropertyType})"),
            };
            property.SetValue(changed, other);
            Assert.False(new TcpWatchOptions().HasSameSettingsAs(changed), property.Name);
        }

        Assert.True(new TcpWatchOptions().HasSameSettingsAs(new TcpWatchOptions()));
    }

    private static TcpWatch NewWatch(TcpShakerMonitor monitor, TcpWatchOptions options, TimeProvider? clock = null) =>
        new(monitor, TcpEndpoint.FromIPEndPoint(Target), options, clock ?? TimeProvider.System);

    private static TcpHealthChange? Feed(TcpWatch watch, bool open) => watch.Record(
        open ? new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(1), Target, 0)
             : new TcpCheckResult(TcpCheckStatus.Refused, TimeSpan.Zero, Target, 111) { ErrorKind = TcpCheckErrorKind.OperatingSystem });
}
