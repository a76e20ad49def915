using System.Diagnostics.Metrics;
using System.Net;
using System.Threading.Channels;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.RawSyn;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>
/// "Never Up when it cannot know": each fault a watch can meet (the engine disposed under it, its loop faulted,
/// a round that throws, results that stop for a reason nobody foresaw) ends its verdict as Unknown with the
/// reason, and nothing a logger, a meter listener or a handler does stops the events or breaks dispose.
/// Faults in the loop run in half-open and raw SYN mode (raw needs CAP_NET_RAW; CI runs as root).
/// </summary>
public sealed class MonitorFaultTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    public static TheoryData<TcpShakerMode> LoopModes => [TcpShakerMode.HalfOpen, TcpShakerMode.RawSyn];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task A_watch_in_the_loop_goes_unknown_when_the_engine_is_disposed_under_it(TcpShakerMode mode)
    {
        TcpShaker shaker = await LoopWatchTests.StartedAsync(mode);
        await using var monitor = new TcpShakerMonitor(shaker);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        var listener = new LoopbackListener();
        TcpWatch watch = monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(200), Rise = 1, Fall = 1 });
        Assert.Equal(TcpTargetHealth.Up, (await NextAsync(changes)).Current);

        await shaker.DisposeAsync();
        listener.Dispose(); // the target closes too: an Up kept now would be a lie

        TcpHealthChange stopped = await NextAsync(changes);
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Unknown, "engine stopped"), (stopped.Previous, stopped.Current, stopped.Reason));
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        Assert.Equal("engine stopped", watch.UnknownReason);
        Assert.EndsWith("has no verdict: engine stopped", watch.Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(LoopModes))]
    public async Task A_faulted_loop_makes_its_watches_unknown_and_they_carry_on_in_the_restarted_engine(TcpShakerMode mode)
    {
        await using TcpShaker shaker = await LoopWatchTests.StartedAsync(mode);
        await using var monitor = new TcpShakerMonitor(shaker);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        using var listener = new LoopbackListener();
        TcpWatch watch = monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1, Fall = 1 });
        Assert.Equal(TcpTargetHealth.Up, (await NextAsync(changes)).Current);
        ICheckEngine first = shaker.Engine!;

        FaultLoop(first, "injected");

        TcpHealthChange unknown = await NextAsync(changes);
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Unknown), (unknown.Previous, unknown.Current));
        Assert.Equal("loop faulted: InvalidOperationException: injected", unknown.Reason);
        TcpHealthChange back = await NextAsync(changes); // re-attached to the restarted engine: the first result decides
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up, "1 successful check"), (back.Previous, back.Current, back.Reason));
        Assert.NotSame(first, shaker.Engine);
        Assert.Equal(mode, shaker.Mode);
        Assert.Null(watch.UnknownReason);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_loop_that_keeps_faulting_leaves_its_watches_unknown_for_good_naming_the_faults()
    {
        await using TcpShaker shaker = await LoopWatchTests.StartedAsync(TcpShakerMode.HalfOpen);
        shaker.Host.MaxFaults = 2;
        shaker.Host.RestartDelay = TimeSpan.FromMilliseconds(1);
        await using var monitor = new TcpShakerMonitor(shaker);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        using var listener = new LoopbackListener();
        TcpWatch watch = monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1, Fall = 1 });
        Assert.Equal(TcpTargetHealth.Up, (await NextAsync(changes)).Current);

        FaultLoop(shaker.Engine!, "first");
        Assert.Equal(TcpTargetHealth.Unknown, (await NextAsync(changes)).Current);
        Assert.Equal(TcpTargetHealth.Up, (await NextAsync(changes)).Current);
        FaultLoop(shaker.Engine!, "second");
        Assert.Equal(TcpTargetHealth.Unknown, (await NextAsync(changes)).Current);

        await MonitorTests.WaitUntil(() => watch.UnknownReason?.StartsWith("checks stopped", StringComparison.Ordinal) == true, Within);
        Assert.Equal(
            "checks stopped: The TcpShaker engine stopped checking: its loop faulted 2 times within 10 minutes (last: InvalidOperationException: second).",
            watch.UnknownReason);
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        Assert.Equal(0, monitor.RunningWatchesForTest());
    }

    [Fact]
    public async Task A_watch_on_the_timer_goes_unknown_when_the_engine_is_disposed_under_it()
    {
        var clock = new FakeTimeProvider();
        TcpShaker shaker = new();
        using var listener = new LoopbackListener();
        shaker.ResolveOverride = _ => [IPAddress.Loopback];
        await using var monitor = new TcpShakerMonitor(shaker, timeProvider: clock);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        TcpWatch watch = monitor.Watch($"db.test:{listener.EndPoint.Port}", new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), Rise = 1, Fall = 1 });

        Assert.Equal(TcpTargetHealth.Up, (await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes)).Current);
        await shaker.DisposeAsync();

        TcpHealthChange stopped = await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes);
        Assert.Equal((TcpTargetHealth.Unknown, "engine stopped"), (stopped.Current, stopped.Reason));
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
    }

    [Fact]
    public async Task A_round_that_throws_makes_the_watch_unknown_and_the_schedule_goes_on()
    {
        var clock = new FakeTimeProvider();
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        Exception? resolverFault = null;
        shaker.ResolveOverride = _ => resolverFault is { } fault ? throw fault : [IPAddress.Loopback];
        await using var monitor = new TcpShakerMonitor(shaker, timeProvider: clock);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        TcpWatch watch = monitor.Watch($"db.test:{listener.EndPoint.Port}", new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), Rise = 1, Fall = 1 });
        Assert.Equal(TcpTargetHealth.Up, (await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes)).Current);

        resolverFault = new InvalidDataException("the resolver exploded");
        TcpHealthChange failed = await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes);
        Assert.Equal((TcpTargetHealth.Unknown, "a round failed: InvalidDataException: the resolver exploded"), (failed.Current, failed.Reason));

        resolverFault = null; // the watch was not dropped from the schedule: the next round decides again
        TcpHealthChange back = await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes);
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up), (back.Previous, back.Current));
        Assert.Equal(TcpTargetHealth.Up, watch.Health);
    }

    [Fact]
    public async Task A_verdict_nobody_renews_is_not_served_and_the_sweep_ends_it_with_an_event()
    {
        var clock = new FakeTimeProvider();
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        using var hang = new ManualResetEventSlim(true);
        shaker.ResolveOverride = _ =>
        {
            hang.Wait(Within); // a round that never ends: a cause nobody foresaw
            return [IPAddress.Loopback];
        };
        await using var monitor = new TcpShakerMonitor(shaker, timeProvider: clock);
        Channel<TcpHealthChange> changes = Subscribe(monitor);
        var options = new TcpWatchOptions { Interval = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromMilliseconds(500), Rise = 1, Fall = 1 };
        TcpWatch watch = monitor.Watch($"db.test:{listener.EndPoint.Port}", options);
        Assert.Equal(TcpTargetHealth.Up, (await NextAfterAsync(clock, TimeSpan.FromSeconds(1), changes)).Current);
        hang.Reset();

        clock.Advance(watch.StaleAfter - TimeSpan.FromMilliseconds(600)); // the next round starts and hangs; the verdict is still fresh
        Assert.Equal(TcpTargetHealth.Up, watch.Health);
        clock.Advance(TimeSpan.FromSeconds(1)); // past StaleAfter (3 s), and a sweep falls due

        TcpHealthChange expired = await NextAsync(changes);
        Assert.Equal((TcpTargetHealth.Up, TcpTargetHealth.Unknown), (expired.Previous, expired.Current));
        Assert.StartsWith("no result since ", expired.Reason, StringComparison.Ordinal);
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        hang.Set();
    }

    [Fact]
    public async Task A_logger_a_meter_listener_and_a_handler_that_throw_stop_no_event_and_no_dispose()
    {
        await using var shaker = new TcpShaker();
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory meters = services.GetRequiredService<IMeterFactory>();
        using var meterListener = new MeterListener();
        meterListener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == meters && instrument.Name == "tcpshaker.watch.transitions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meterListener.SetMeasurementEventCallback<long>((_, _, _, _) => throw new InvalidOperationException("the meter listener broke"));
        meterListener.Start();

        var monitor = new TcpShakerMonitor(shaker, loggerFactory: new ThrowingLoggerFactory(), meterFactory: meters);
        var received = Channel.CreateUnbounded<TcpHealthChange>();
        monitor.HealthChanged += (_, _) => throw new InvalidOperationException("the first handler broke");
        monitor.HealthChanged += (_, change) => received.Writer.TryWrite(change);
        LoopbackListener[] listeners = [new(), new(), new()];
        try
        {
            foreach (LoopbackListener listener in listeners)
            {
                monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1 });
            }

            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(TcpTargetHealth.Up, (await NextAsync(received)).Current); // all three, past a broken logger, meter and handler
            }
        }
        finally
        {
            await monitor.DisposeAsync().AsTask().WaitAsync(Within, Ct); // and dispose neither throws nor hangs
            Array.ForEach(listeners, l => l.Dispose());
        }
    }

    [Fact]
    public async Task A_handler_may_dispose_the_monitor_synchronously()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        var monitor = new TcpShakerMonitor(shaker);
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        monitor.HealthChanged += (_, _) =>
        {
#pragma warning disable VSTHRD002 // the point: a sync Dispose (YARP's IDisposable) from inside a handler must not deadlock
            monitor.DisposeAsync().AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            disposed.TrySetResult();
        };
        monitor.Watch(listener.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1 });

        await disposed.Task.WaitAsync(Within, Ct);
        Assert.Empty(monitor.Watches);
        Assert.Equal(0, monitor.RunningWatchesForTest());
    }

    [Fact]
    public async Task Watch_racing_DisposeAsync_never_leaves_a_watch_running()
    {
        await using var shaker = new TcpShaker();
        shaker.ResolveOverride = _ => [IPAddress.Loopback];
        await shaker.StartAsync(Ct);
        var options = new TcpWatchOptions { Interval = TimeSpan.FromSeconds(30) };
        int refused = 0, stopped = 0;
        var random = new Random(17);
        for (int round = 0; round < 1_000; round++)
        {
            var monitor = new TcpShakerMonitor(shaker);
            var watches = new List<TcpWatch>();
            using var start = new Barrier(2);
            int disposeAfter = random.Next(0, 64); // watches: the dispose lands anywhere in the stream of watches being added
            int added = 0;
            Task adding = Task.Run(() =>
            {
                start.SignalAndWait(Ct);
                for (int i = 0; i < 64; i++)
                {
                    Thread.SpinWait(2_000); // a stream long enough (some ms) for the dispose to land in it on a busy machine
                    try
                    {
                        watches.Add(monitor.Watch(i % 2 == 0 ? "db.test:5432" : "127.0.0.1:5432", options)); // the timer driver and the loop's
                        Volatile.Write(ref added, i + 1);
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                        return;
                    }
                }
            }, Ct);
            Task disposing = Task.Run(async () =>
            {
                start.SignalAndWait(Ct);
                SpinWait.SpinUntil(() => Volatile.Read(ref added) >= disposeAfter, Within);
                await monitor.DisposeAsync();
            }, Ct);
            await Task.WhenAll(adding, disposing).WaitAsync(Within, Ct);

            // Every watch the race let in is stopped; no driver still runs one (each attach is undone by its detach).
            await MonitorTests.WaitUntil(() => monitor.RunningWatchesForTest() == 0, Within);
            Assert.All(watches, w => Assert.True(w.IsDisposed));
            Assert.Empty(monitor.Watches);
            stopped += watches.Count;
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"1,000 races: {stopped} watches let in and stopped, {refused} refused with ObjectDisposedException");
        Assert.True(refused > 200, $"the dispose ended only {refused} of 1,000 streams of watches: the race was hardly run");
    }

    [Fact]
    public async Task An_unexpected_attach_failure_leaves_the_watch_unknown_and_dispose_completes()
    {
        await using var shaker = new TcpShaker();
        shaker.ForceStartFailure = new InvalidDataException("the engine exploded");
        var monitor = new TcpShakerMonitor(shaker);
        // An hour's interval: the timer driver's first round (which would say "a round failed") is far off.
        TcpWatch watch = monitor.Watch("127.0.0.1:5432", new TcpWatchOptions { Interval = TimeSpan.FromHours(1) });

        await MonitorTests.WaitUntil(() => watch.UnknownReason is not null, Within);
        Assert.Equal("could not start watching: InvalidDataException: the engine exploded", watch.UnknownReason);
        await monitor.DisposeAsync().AsTask().WaitAsync(Within, Ct);
        Assert.Equal(0, monitor.RunningWatchesForTest());
    }

    internal static Channel<TcpHealthChange> Subscribe(TcpShakerMonitor monitor)
    {
        var changes = Channel.CreateUnbounded<TcpHealthChange>();
        monitor.HealthChanged += (_, change) => changes.Writer.TryWrite(change);
        return changes;
    }

    internal static Task<TcpHealthChange> NextAsync(Channel<TcpHealthChange> changes) =>
        changes.Reader.ReadAsync(Ct).AsTask().WaitAsync(Within, Ct);

    /// <summary>Moves a test's clock on in small steps (each starts the rounds that fall due) until the next change arrives.</summary>
    private static async Task<TcpHealthChange> NextAfterAsync(FakeTimeProvider clock, TimeSpan interval, Channel<TcpHealthChange> changes)
    {
        for (int step = 0; step < 200; step++)
        {
            if (changes.Reader.TryRead(out TcpHealthChange? change))
            {
                return change;
            }

            clock.Advance(interval / 4);
            ValueTask<bool> ready = changes.Reader.WaitToReadAsync(Ct);
            await Task.WhenAny(ready.AsTask(), Task.Delay(50, Ct)); // a real check's own time on loopback, not the schedule's
        }

        throw new TimeoutException("no change of health after 50 intervals of the test's clock");
    }

    private static void FaultLoop(ICheckEngine engine, string message)
    {
        switch (engine)
        {
            case HalfOpenEngine halfOpen:
                halfOpen.Loops[0].Post(_ => throw new InvalidOperationException(message));
                break;
            case RawSynEngine raw:
                raw.Loop.Post(_ => throw new InvalidOperationException(message));
                break;
            default:
                throw new InvalidOperationException($"no loop in {engine}");
        }
    }

    private sealed class ThrowingLoggerFactory : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger();

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                throw new InvalidOperationException("the logging provider broke");
        }
    }
}
