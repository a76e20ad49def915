using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>The monitor against real loopback listeners, in both engines.</summary>
[Trait("Category", "Timing")]
public sealed class MonitorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_target_goes_up_then_down_with_one_event_per_change_off_the_loop_thread(bool forceFullConnect)
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = forceFullConnect });
        await using var monitor = new TcpShakerMonitor(shaker);
        var listener = new LoopbackListener();
        var changes = new ConcurrentQueue<(TcpHealthChange Change, string? Thread)>();
        monitor.HealthChanged += (_, change) => changes.Enqueue((change, Thread.CurrentThread.Name));

        TcpWatch watch = monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(30), Rise = 2, Fall = 3 });
        await WaitUntil(() => changes.Count == 1, TimeSpan.FromSeconds(5));
        int acceptedWhileUp = forceFullConnect ? listener.DrainAcceptQueue() : listener.DrainAcceptQueue();
        listener.Dispose(); // the port now refuses
        await WaitUntil(() => changes.Count == 2, TimeSpan.FromSeconds(5));
        await Task.Delay(200, Ct); // room for a wrong extra event

        TcpHealthChange[] events = changes.Select(c => c.Change).ToArray();
        Assert.Equal(2, events.Length);
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up), (events[0].Previous, events[0].Current));
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Down), (events[1].Previous, events[1].Current));
        Assert.Equal("3 refusals in a row", events[1].Reason);
        Assert.Equal(listener.EndPoint, events[1].LastResult.RemoteEndPoint);
        Assert.All(changes, c => Assert.DoesNotContain("half-open loop", c.Thread ?? string.Empty, StringComparison.Ordinal));
        Assert.Equal(TcpTargetHealth.Down, watch.Health);
        Assert.Equal(events[1].At, watch.Since);
        Assert.Equal(forceFullConnect, acceptedWhileUp > 0); // half-open: the server never had a connection to accept
    }

    [Fact]
    public async Task The_schedule_does_not_drift_when_checks_take_most_of_the_interval()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        using var silent = new SilentTarget();

        // Each check times out after 60 ms of a 100 ms interval. Scheduling from the end of each check would
        // give one check per 160 ms; the schedule gives one per 100 ms.
        TcpWatch watch = monitor.Watch(silent.EndPoint.ToString(), new TcpWatchOptions
        {
            Interval = TimeSpan.FromMilliseconds(100), Timeout = TimeSpan.FromMilliseconds(60), Fall = 1000,
        });
        await WaitUntil(() => watch.Checks >= 12, TimeSpan.FromSeconds(5));

        IReadOnlyList<TcpWatchSample> history = watch.RecentResults;
        DateTimeOffset[] starts = history.Select(s => s.At - s.Elapsed).ToArray();
        double period = (starts[^1] - starts[1]).TotalMilliseconds / (starts.Length - 2);
        Assert.All(history, s => Assert.Equal(TcpCheckStatus.Timeout, s.Status));

        // 100 ms at the mean over 10+ periods: timer and scheduling noise of a few ms per check averages out;
        // a drifting schedule would be 160 ms.
        Assert.InRange(period, 95, 110);
    }

    [Fact]
    public async Task Fast_and_down_intervals_apply_on_a_live_target()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        using var closed = new ClosedPort();

        TcpWatch watch = monitor.Watch(closed.EndPoint.ToString(), new TcpWatchOptions
        {
            Interval = TimeSpan.FromSeconds(10), FastInterval = TimeSpan.FromMilliseconds(40), DownInterval = TimeSpan.FromMilliseconds(250), Fall = 3,
        });
        await WaitUntil(() => watch.Checks >= 5, TimeSpan.FromSeconds(10));

        DateTimeOffset[] at = watch.RecentResults.Select(s => s.At).ToArray();
        // The first check decides (down), so from it on the checks are 250 ms apart (downinter), not 10 s
        // (inter) nor 40 ms (fastinter, for a pending change). Margins: a busy CI machine delays a timer by
        // some milliseconds, never by the 200 ms that tell them apart.
        Assert.InRange((at[4] - at[0]).TotalMilliseconds / 4, 220, 330);
        Assert.Equal(TcpTargetHealth.Down, watch.Health);
    }

    [Fact]
    public async Task Watches_that_start_in_a_fast_interval_spread_over_the_steady_one_once_up()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        using var listener = new LoopbackListener();
        var options = new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), FastInterval = TimeSpan.FromMilliseconds(50), Rise = 1 };
        long origin = Stopwatch.GetTimestamp();
        TcpWatch[] watches = Enumerable.Range(0, 200).Select(_ => monitor.Watch(listener.EndPoint.ToString(), options)).ToArray();

        // All up within the fast interval; then each settles at its own place in the 1 s interval.
        await WaitUntil(() => watches.All(w => w.Checks >= 3), TimeSpan.FromSeconds(5));

        // The place of each watch's last (steady) check within the second, in tenths: bunched in the
        // 50 ms fast interval they would all share one or two tenths; spread, they fill them all.
        int[] tenths = watches.Select(w => w.RecentResults[^1].At).Select(at => (int)((at - watches[0].RecentResults[^1].At).TotalMilliseconds + 10_000) % 1000 / 100).ToArray();
        Assert.True(tenths.Distinct().Count() >= 9, $"steady checks fell in only {tenths.Distinct().Count()} tenths of the second");
        Assert.All(watches, w => Assert.Equal(TcpTargetHealth.Up, w.Health));
        Assert.True(Stopwatch.GetElapsedTime(origin) < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_host_name_is_resolved_every_round_and_the_change_names_the_address()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        using var open = new LoopbackListener(IPAddress.Loopback);
        IPAddress address = IPAddress.Loopback;
        shaker.ResolveOverride = _ => [Volatile.Read(ref address)];
        var changes = new ConcurrentQueue<TcpHealthChange>();
        monitor.HealthChanged += (_, change) => changes.Enqueue(change);

        TcpWatch watch = monitor.Watch($"db.test:{open.Port}", new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(30), Rise = 1, Fall = 2 });
        await WaitUntil(() => watch.Health == TcpTargetHealth.Up, TimeSpan.FromSeconds(5));
        Volatile.Write(ref address, IPAddress.Parse("127.0.0.2")); // the name now points where nothing listens
        await WaitUntil(() => watch.Health == TcpTargetHealth.Down, TimeSpan.FromSeconds(5));
        await WaitUntil(() => changes.Count == 2, TimeSpan.FromSeconds(2));

        TcpHealthChange down = changes.Last();
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), open.Port), down.LastResult.RemoteEndPoint);
        Assert.Contains("127.0.0.2", down.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_endpoints_and_settings_are_refused_naming_the_value()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);

        var endpoint = Assert.Throws<ArgumentException>(() => monitor.Watch("db"));
        var rise = Assert.Throws<ArgumentException>(() => monitor.Watch("db:5432", new TcpWatchOptions { Rise = 0 }));
        var jitter = Assert.Throws<ArgumentException>(() => monitor.Watch("db:5432", new TcpWatchOptions { Jitter = 0.9 }));
        var defaults = Assert.Throws<ArgumentException>(() => new TcpShakerMonitor(shaker, new TcpWatchOptions { Interval = TimeSpan.Zero }));

        Assert.Contains("'db' is not a valid TCP endpoint", endpoint.Message, StringComparison.Ordinal);
        Assert.Contains("Rise is 0", rise.Message, StringComparison.Ordinal);
        Assert.Contains("Jitter is 0.9", jitter.Message, StringComparison.Ordinal);
        Assert.Contains("Interval is 00:00:00", defaults.Message, StringComparison.Ordinal);
        Assert.Empty(monitor.Watches);
    }

    [Fact]
    public async Task A_handler_that_throws_does_not_stop_later_events()
    {
        await using var shaker = new TcpShaker();
        await using var monitor = new TcpShakerMonitor(shaker);
        using var a = new LoopbackListener();
        using var b = new LoopbackListener();
        var seen = new ConcurrentQueue<TcpEndpoint>();
        monitor.HealthChanged += (_, change) =>
        {
            seen.Enqueue(change.Watch.Endpoint);
            throw new InvalidOperationException("a subscriber's bug");
        };

        var options = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(20), Rise = 1 };
        monitor.Watch(a.EndPoint.ToString(), options);
        monitor.Watch(b.EndPoint.ToString(), options);

        await WaitUntil(() => seen.Count == 2, TimeSpan.FromSeconds(5));
    }

    internal static async Task WaitUntil(Func<bool> condition, TimeSpan within)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < within, $"condition not met within {within.TotalSeconds} s");
            await Task.Delay(10, Ct);
        }
    }
}
