using System.Collections.Concurrent;
using System.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Monitoring;
using HealthChecks.TcpShaker.Testing;
using static HealthChecks.TcpShaker.Tests.Monitoring.MonitorTests;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>
/// Watches of IP addresses run inside the engine's loop, in half-open and raw SYN mode alike: the loop's
/// own count of watch rounds covers every check, the loop thread allocates nothing per check, and a
/// removed or disposed watch lets go of its check in flight at once. Raw SYN mode needs CAP_NET_RAW
/// (CI runs as root); without it those cases skip.
/// </summary>
[Trait("Category", "Timing")]
public sealed class LoopWatchTests
{
    public static TheoryData<TcpShakerMode> LoopModes => [TcpShakerMode.HalfOpen, TcpShakerMode.RawSyn];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task Watches_run_in_the_loop_and_allocate_nothing_there_per_check(TcpShakerMode mode)
    {
        await WithListenersUpAsync(mode, 50, async (shaker, _, watches, changes) =>
        {
            (long allocatedBefore, long startedBefore) = await OnLoopAsync(shaker, () => LoopCounters(shaker));
            long checksBefore = watches.Sum(w => w.Checks);
            await Task.Delay(600, Ct);
            (long allocatedAfter, long startedAfter) = await OnLoopAsync(shaker, () => LoopCounters(shaker));
            long checks = watches.Sum(w => w.Checks) - checksBefore;
            long started = startedAfter - startedBefore;
            long allocated = allocatedAfter - allocatedBefore;
            TestContext.Current.TestOutputHelper?.WriteLine($"{mode}: {started} rounds begun by the loop, {checks} checks recorded, {allocated} bytes allocated on the loop thread");

            // 50 watches every 20 ms for 600 ms: some 1,500 rounds, each begun by the loop (the timer driver's would not count).
            Assert.InRange(started, 500, 2_000);
            Assert.InRange(checks, started - 100, started + 100); // a round or two per watch may straddle the readings
            Assert.InRange(allocated, 0, 16 * 1024); // the readings' own task completions; a check allocating would be 24+ bytes each
            Assert.Equal(50, changes.Count); // only the changes (Unknown to Up) left the loop
        });
    }

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task Open_refused_and_silent_targets_go_up_and_down_in_the_loop(TcpShakerMode mode)
    {
        await using TcpShaker shaker = await StartedAsync(mode);
        await using var monitor = new TcpShakerMonitor(shaker);
        using var open = new LoopbackListener();
        var closed = new LoopbackListener();
        closed.Dispose(); // the port now refuses
        using var silent = new SilentTarget();
        var changes = new ConcurrentQueue<TcpHealthChange>();
        monitor.HealthChanged += (_, change) => changes.Enqueue(change);

        var options = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(50), Timeout = TimeSpan.FromMilliseconds(150), Rise = 2, Fall = 2 };
        TcpWatch up = monitor.Watch(open.EndPoint.ToString(), options);
        TcpWatch refused = monitor.Watch(closed.EndPoint.ToString(), options);
        TcpWatch timedOut = monitor.Watch(silent.EndPoint.ToString(), options);
        TcpWatch[] watches = [up, refused, timedOut];
        await WaitUntil(() => changes.Count == 3, TimeSpan.FromSeconds(5));
        long recorded = watches.Sum(w => w.Checks); // first: each recorded check's round began before the loop's reading
        long started = await OnLoopAsync(shaker, () => LoopWatchesOf(shaker).ChecksStarted);

        Assert.Equal(TcpCheckStatus.Open, up.LastResult?.Status);
        Assert.Equal(TcpCheckStatus.Refused, refused.LastResult?.Status);
        Assert.Equal(TcpCheckStatus.Timeout, timedOut.LastResult?.Status);
        Assert.Equal(
            [(up, TcpTargetHealth.Up, "1 successful check"), (refused, TcpTargetHealth.Down, "1 refusal"), (timedOut, TcpTargetHealth.Down, "1 timeout")],
            changes.Select(c => (c.Watch, c.Current, c.Reason)).OrderBy(c => Array.IndexOf(watches, c.Watch)));
        Assert.True(started >= recorded && recorded > 0, $"the loop began {started} rounds, the watches had recorded {recorded} checks");
        Assert.Equal(0, open.DrainAcceptQueue());
    }

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task Watches_come_and_go_while_running_without_disturbing_the_others(TcpShakerMode mode)
    {
        await WithListenersUpAsync(mode, 40, async (_, monitor, watches, _) =>
        {
            foreach (TcpWatch removed in watches.Where((_, i) => i % 2 == 0))
            {
                removed.Dispose();
            }

            await Task.Delay(100, Ct);
            long[] removedChecks = watches.Where((_, i) => i % 2 == 0).Select(w => w.Checks).ToArray();
            long[] keptChecks = watches.Where((_, i) => i % 2 == 1).Select(w => w.Checks).ToArray();
            TcpWatch added = monitor.Watch(watches[0].Endpoint.ToString(), watches[0].Options);
            await Task.Delay(300, Ct);

            Assert.Equal(removedChecks, watches.Where((_, i) => i % 2 == 0).Select(w => w.Checks));
            Assert.All(watches.Where((_, i) => i % 2 == 1).Zip(keptChecks), pair => Assert.True(pair.First.Checks >= pair.Second + 5, "a kept watch stopped checking"));
            Assert.True(added.Checks >= 5);
            Assert.Equal(21, monitor.Watches.Count);
        });
    }

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task Removing_watches_mid_check_gives_back_what_their_checks_held(TcpShakerMode mode) =>
        await WithSilentChecksInFlightAsync(mode, 20, 20, async (shaker, monitor, watches) =>
        {
            foreach (TcpWatch watch in watches)
            {
                watch.Dispose();
            }

            // The checks' deadline is 10 s away: only the removal can end them within 2 s.
            await WaitForInFlightAsync(shaker, n => n == 0, TimeSpan.FromSeconds(2));
            Assert.All(watches, w => Assert.Equal(0, w.Checks));
            Assert.Empty(monitor.Watches);
        });

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task Dispose_with_200_watches_in_flight_is_prompt_and_lets_go_of_every_check(TcpShakerMode mode) =>
        await WithSilentChecksInFlightAsync(mode, 200, 150, async (shaker, monitor, watches) =>
        {
            var stopwatch = Stopwatch.StartNew();
            await monitor.DisposeAsync();
            stopwatch.Stop();

            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"dispose took {stopwatch.Elapsed.TotalMilliseconds} ms");
            Assert.Equal(0, await OnLoopAsync(shaker, () => InFlight(shaker))); // the engine runs on, holding nothing of the watches
            Assert.All(watches, w => Assert.True(w.IsDisposed));
        });

    /// <summary>
    /// Runs <paramref name="test"/> in <paramref name="mode"/> once at least <paramref name="inFlight"/> of
    /// <paramref name="count"/> watches of a silent target (every 50 ms, 10 s timeout) have a check in flight.
    /// </summary>
    private static async Task WithSilentChecksInFlightAsync(TcpShakerMode mode, int count, int inFlight, Func<TcpShaker, TcpShakerMonitor, TcpWatch[], Task> test)
    {
        await using TcpShaker shaker = await StartedAsync(mode);
        await using var monitor = new TcpShakerMonitor(shaker);
        using var silent = new SilentTarget();
        var options = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(50), Timeout = TimeSpan.FromSeconds(10) };
        TcpWatch[] watches = Enumerable.Range(0, count).Select(_ => monitor.Watch(silent.EndPoint.ToString(), options)).ToArray();
        await WaitForInFlightAsync(shaker, n => n >= inFlight, TimeSpan.FromSeconds(5));
        await test(shaker, monitor, watches);
    }

    /// <summary>
    /// Runs <paramref name="test"/> in <paramref name="mode"/> once a watch of each of <paramref name="count"/>
    /// loopback listeners (every 20 ms, up after one open check) is up, with the changes seen so far;
    /// none of the listeners may have seen a connection.
    /// </summary>
    private static async Task WithListenersUpAsync(TcpShakerMode mode, int count, Func<TcpShaker, TcpShakerMonitor, TcpWatch[], ConcurrentQueue<TcpHealthChange>, Task> test)
    {
        await using TcpShaker shaker = await StartedAsync(mode);
        await using var monitor = new TcpShakerMonitor(shaker);
        var changes = new ConcurrentQueue<TcpHealthChange>();
        monitor.HealthChanged += (_, change) => changes.Enqueue(change);
        LoopbackListener[] listeners = Enumerable.Range(0, count).Select(_ => new LoopbackListener()).ToArray();
        try
        {
            var options = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(20), Rise = 1 };
            TcpWatch[] watches = listeners.Select(l => monitor.Watch(l.EndPoint.ToString(), options)).ToArray();
            await WaitUntil(() => watches.All(w => w.Health == TcpTargetHealth.Up), TimeSpan.FromSeconds(5));
            await test(shaker, monitor, watches, changes);
            Assert.All(listeners, l => Assert.Equal(0, l.DrainAcceptQueue()));
        }
        finally
        {
            foreach (LoopbackListener listener in listeners)
            {
                listener.Dispose();
            }
        }
    }

    /// <summary>A shaker started in <paramref name="mode"/>; skips when raw SYN mode cannot start here.</summary>
    /// <summary>A started shaker in <paramref name="mode"/> with one loop, whose IP watches run in the loop; skips when the mode cannot start here.</summary>
    internal static async Task<TcpShaker> StartedAsync(TcpShakerMode mode)
    {
        var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = mode == TcpShakerMode.RawSyn, LoopCount = 1 });
        await shaker.StartAsync(Ct);
        if (shaker.Mode != mode)
        {
            await shaker.DisposeAsync();
            Assert.Skip($"{mode} mode did not start here (it runs {shaker.Mode}): raw SYN mode needs CAP_NET_RAW, CI runs as root");
        }

        Assert.IsType<LoopWatchDriver>(await AttachedDriverAsync(shaker));
        return shaker;
    }

    /// <summary>The driver the monitor picks for an IP literal on this shaker's engine.</summary>
    private static async Task<object?> AttachedDriverAsync(TcpShaker shaker)
    {
        await using var monitor = new TcpShakerMonitor(shaker);
        using var listener = new LoopbackListener();
        return await monitor.DriverOfAsync(monitor.Watch(listener.EndPoint.ToString()));
    }

    private static LoopWatches LoopWatchesOf(TcpShaker shaker) => Assert.Single(Assert.IsAssignableFrom<IWatchEngine>(shaker.Engine).LoopWatches);

    /// <summary>The loop thread's allocated bytes and the rounds of watches the loop has begun. Loop thread.</summary>
    private static (long Allocated, long Started) LoopCounters(TcpShaker shaker)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread(); // first: what reading the rest allocates falls in the next span
        return (allocated, LoopWatchesOf(shaker).ChecksStarted);
    }

    /// <summary>Checks the loop holds in flight: sockets in half-open mode, source ports in raw SYN mode. Loop thread.</summary>
    private static int InFlight(TcpShaker shaker) => shaker.Engine switch
    {
        HalfOpenEngine halfOpen => halfOpen.Loops[0].InFlightTokens().Count,
        RawSynEngine raw => raw.Transport.ChecksInFlight,
        var other => throw new InvalidOperationException($"no loop in {other}"),
    };

    private static async Task WaitForInFlightAsync(TcpShaker shaker, Func<int, bool> condition, TimeSpan within)
    {
        var stopwatch = Stopwatch.StartNew();
        int inFlight;
        while (!condition(inFlight = await OnLoopAsync(shaker, () => InFlight(shaker))))
        {
            Assert.True(stopwatch.Elapsed < within, $"{inFlight} checks in flight after {within.TotalSeconds} s");
            await Task.Delay(10, Ct);
        }
    }

    /// <summary>Runs <paramref name="read"/> on the engine's loop thread.</summary>
    private static Task<T> OnLoopAsync<T>(TcpShaker shaker, Func<T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        switch (shaker.Engine)
        {
            case HalfOpenEngine halfOpen:
                halfOpen.Loops[0].Post(_ => result.SetResult(read()));
                break;
            case RawSynEngine raw:
                raw.Loop.Post(_ => result.SetResult(read()));
                break;
            default:
                throw new InvalidOperationException($"no loop in {shaker.Engine}");
        }

        return result.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }
}
