using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Monitoring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker;

/// <summary>
/// Watches many targets continuously, as HAProxy and Envoy watch their backends: each checked on its own
/// schedule (<see cref="TcpWatchOptions.Interval"/>, spread over it), judged by rise and fall, with one
/// <see cref="HealthChanged"/> event and one log line per change of health. Checks go through the shared
/// <see cref="TcpShaker"/>, so they are half-open where it is. Watches of IP addresses run inside the
/// engine's loop (no allocation, no thread-pool hop per check); host names are re-resolved every round.
/// </summary>
/// <remarks>
/// A watch never reports what it cannot know: when its checks stop (the engine disposed, a loop faulted, a round
/// that failed) or no result arrives for longer than its schedule allows, its health becomes
/// <see cref="TcpTargetHealth.Unknown"/> with <see cref="TcpWatch.UnknownReason"/>, with an event and a log line.
/// A faulted loop is restarted by the engine and its watches carry on there.
/// </remarks>
public sealed class TcpShakerMonitor : IAsyncDisposable, IHealthChangeSink
{
    /// <summary>How often the staleness sweep looks for verdicts nobody renewed.</summary>
    internal static readonly TimeSpan StaleSweepPeriod = TimeSpan.FromMilliseconds(500);

    [ThreadStatic]
    private static TcpShakerMonitor? t_raising;

    private readonly TcpShaker _shaker;
    private readonly TcpWatchOptions _defaults;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly MonitorMetrics _metrics;
    private readonly object _lifecycle = new();
    private readonly ConcurrentDictionary<TcpWatch, Task<IWatchDriver?>> _watches = new();
    private static readonly Task<IWatchDriver?> s_notAttached = Task.FromResult<IWatchDriver?>(null);
    private volatile TcpWatchOptions? _lastSettings; // the copy the last watch with settings of its own got
    private readonly ConcurrentDictionary<Task, byte> _detaching = new();
    private readonly ConcurrentDictionary<IWatchEngine, LoopWatchDriver> _loopDrivers = new();
    private readonly Channel<TcpHealthChange> _changes = Channel.CreateUnbounded<TcpHealthChange>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly Task _events;
    private readonly ITimer _staleSweep;
    private TimerWatchDriver? _timerDriver;
    private bool _disposed;

    /// <summary>Creates a monitor that checks through <paramref name="shaker"/>.</summary>
    /// <param name="shaker">The checker; it must outlive the monitor.</param>
    /// <param name="defaults">Settings for watches that bring none; <see langword="null"/> for HAProxy's defaults (2 s, rise 2, fall 3).</param>
    /// <param name="loggerFactory">Where to log changes of health (one line each); <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Where to create the <c>HealthChecks.TcpShaker</c> meter for watch metrics; <see langword="null"/> for a meter of its own.</param>
    /// <param name="timeProvider">
    /// The clock of the watches' schedules, timestamps and staleness; <see langword="null"/> for <see cref="TimeProvider.System"/>.
    /// Under another clock (a test's) every watch runs on a timer of that clock instead of inside the engine's loop.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="defaults"/> holds a setting out of range.</exception>
    public TcpShakerMonitor(TcpShaker shaker, TcpWatchOptions? defaults = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(shaker);
        _shaker = shaker;
        _defaults = (defaults ?? new TcpWatchOptions()).Clone();
        _defaults.Validate("the monitor's defaults");
        _clock = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)loggerFactory?.CreateLogger<TcpShakerMonitor>() ?? NullLogger.Instance;
        _metrics = new MonitorMetrics(meterFactory, this);
        _events = Task.Run(RaiseEventsAsync);
        _staleSweep = _clock.CreateTimer(static state => ((TcpShakerMonitor)state!).SweepStale(), this, StaleSweepPeriod, StaleSweepPeriod);
    }

    /// <summary>
    /// Raised once per change of health, in order per watch, on a thread-pool thread (never on the
    /// checking loop). A handler that throws is logged and stops neither the other handlers nor later events.
    /// </summary>
    public event EventHandler<TcpHealthChange>? HealthChanged;

    /// <summary>The watches running now.</summary>
    public IReadOnlyCollection<TcpWatch> Watches => [.. _watches.Keys];

    /// <summary>Starts watching <c>host:port</c>.</summary>
    /// <param name="endpoint"><c>db:5432</c>, <c>10.0.0.5:5432</c> or <c>[::1]:6379</c>.</param>
    /// <param name="options">This watch's settings; <see langword="null"/> for the monitor's defaults.</param>
    /// <returns>The watch; dispose it to stop watching.</returns>
    /// <exception cref="ArgumentException"><paramref name="endpoint"/> is not a valid <c>host:port</c>, or a setting is out of range (the message names it).</exception>
    /// <exception cref="ObjectDisposedException">The monitor was disposed.</exception>
    public TcpWatch Watch(string endpoint, TcpWatchOptions? options = null)
    {
        if (!TcpEndpoint.TryParse(endpoint, out TcpEndpoint? parsed, out string? error))
        {
            throw new ArgumentException(TcpEndpoint.InvalidEndpointMessage(endpoint, error), nameof(endpoint));
        }

        return Watch(parsed, options);
    }

    /// <summary>Starts watching an endpoint.</summary>
    /// <param name="endpoint">The endpoint; a host name is re-resolved every round.</param>
    /// <param name="options">This watch's settings; <see langword="null"/> for the monitor's defaults.</param>
    /// <returns>The watch; dispose it to stop watching.</returns>
    /// <exception cref="ArgumentException">A setting is out of range (the message names it).</exception>
    /// <exception cref="ObjectDisposedException">The monitor was disposed.</exception>
    public TcpWatch Watch(TcpEndpoint endpoint, TcpWatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        TcpWatchOptions settings = SettingsFor(options, endpoint);
        lock (_lifecycle)
        {
            // Under the lock that DisposeAsync takes: a watch is either stopped by the dispose or refused here.
            ObjectDisposedException.ThrowIf(_disposed, this);
            var watch = new TcpWatch(this, endpoint, settings, _clock);
            _watches[watch] = Attach(watch, stopped: null);
            return watch;
        }
    }

    /// <summary>
    /// Stops every watch (closing every socket of theirs) and raises the events still queued. Never throws:
    /// whatever a handler, a logger or a meter listener does. Safe to call from a <see cref="HealthChanged"/>
    /// handler (it then does not wait for the events after the one being raised).
    /// </summary>
    /// <returns>A task that completes when no watch runs any more.</returns>
    public async ValueTask DisposeAsync()
    {
        bool fromHandler = t_raising == this;
        TimerWatchDriver? timerDriver;
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            timerDriver = _timerDriver;
            foreach (TcpWatch watch in _watches.Keys)
            {
                watch.MarkDisposed();
                RemoveLocked(watch);
            }
        }

        await _staleSweep.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_detaching.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (timerDriver is not null)
        {
            await timerDriver.DisposeAsync().ConfigureAwait(false);
        }

        _changes.Writer.TryComplete();
        if (!fromHandler)
        {
            await _events.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _metrics.Dispose();
    }

    /// <summary>Test hook: the driver that runs <paramref name="watch"/>, once attached (null when it is not, or no longer, watched).</summary>
    internal Task<IWatchDriver?> DriverOfAsync(TcpWatch watch) =>
        _watches.TryGetValue(watch, out Task<IWatchDriver?>? attached) ? attached : Task.FromResult<IWatchDriver?>(null);

    /// <summary>Test hook: how many watches the drivers still run (the timer's and the loops').</summary>
    internal int RunningWatchesForTest()
    {
        TimerWatchDriver? timer;
        lock (_lifecycle)
        {
            timer = _timerDriver;
        }

        return (timer?.Count ?? 0) + _loopDrivers.Values.Sum(d => d.Count);
    }

    /// <summary>Stops one watch (its <see cref="TcpWatch.Dispose"/>).</summary>
    internal void Remove(TcpWatch watch)
    {
        lock (_lifecycle)
        {
            RemoveLocked(watch);
        }
    }

    /// <summary>Queues a change of health for the event thread. Any thread, never blocks.</summary>
    void IHealthChangeSink.Publish(TcpHealthChange change) => _changes.Writer.TryWrite(change);

    /// <summary>A loop stopped under a watch: it goes Unknown with the reason, and runs again in the engine that replaces the stopped one.</summary>
    void IHealthChangeSink.ChecksStopped(TcpWatch watch, ICheckEngine engine, Exception stopped)
    {
        _loopDrivers.TryRemove(engine as IWatchEngine ?? throw new ArgumentException("Not a loop engine.", nameof(engine)), out _);
        string reason = stopped is OperationCanceledException
            ? (_shaker.IsDisposed ? WatchStopReasons.EngineStopped : WatchStopReasons.EngineRestarting)
            : WatchStopReasons.LoopFaulted(stopped.InnerException ?? stopped);
        Publish(watch.MarkUnknown(reason));
        lock (_lifecycle)
        {
            if (!_disposed && !watch.IsDisposed && _watches.TryGetValue(watch, out Task<IWatchDriver?>? attached))
            {
                _watches.TryUpdate(watch, Attach(watch, engine), attached);
            }
        }
    }

    /// <summary>
    /// The settings a new watch runs with: a validated copy, which watches with the same settings share (a fleet's
    /// 100,000 watches hold one object, not 100,000). Nobody changes a copy once made.
    /// </summary>
    private TcpWatchOptions SettingsFor(TcpWatchOptions? requested, TcpEndpoint endpoint)
    {
        if (requested is null)
        {
            return _defaults;
        }

        if (_lastSettings is { } last && last.HasSameSettingsAs(requested))
        {
            return last;
        }

        TcpWatchOptions copy = requested.Clone();
        copy.Validate($"the watch of {endpoint}");
        _lastSettings = copy;
        return copy;
    }

    /// <summary>Under <see cref="_lifecycle"/>.</summary>
    private void RemoveLocked(TcpWatch watch)
    {
        if (_watches.TryRemove(watch, out Task<IWatchDriver?>? attached))
        {
            Task detach = DetachAsync(watch, attached);
            _detaching[detach] = 0;
            _ = detach.ContinueWith(static (t, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(t, out _),
                _detaching, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void Publish(TcpHealthChange? change)
    {
        if (change is not null)
        {
            _changes.Writer.TryWrite(change);
        }
    }

    /// <summary>
    /// Starts <see cref="AttachAsync"/>; once it is done, the watch's entry keeps the driver's shared
    /// <see cref="IWatchDriver.Attached"/> instead of the attachment's own task (136 B a watch while it runs).
    /// </summary>
    private Task<IWatchDriver?> Attach(TcpWatch watch, ICheckEngine? stopped)
    {
        Task<IWatchDriver?> attaching = AttachAsync(watch, stopped);
        _ = attaching.ContinueWith(
            static (done, state) =>
            {
                (TcpShakerMonitor monitor, TcpWatch watch) = ((TcpShakerMonitor, TcpWatch))state!;
                lock (monitor._lifecycle)
                {
                    // Only this attachment's own entry: a later re-attachment or a removal has its own.
                    monitor._watches.TryUpdate(watch, done.IsCompletedSuccessfully ? done.Result?.Attached ?? s_notAttached : done, done);
                }
            },
            (this, watch), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return attaching;
    }

    /// <summary>
    /// Runs a watch in the engine's loop when it can, else on the timer driver; after <paramref name="stopped"/>
    /// (an engine whose loop stopped under the watch), in the engine that replaces it. Never throws: a watch that
    /// cannot be run is Unknown with the reason.
    /// </summary>
    private async Task<IWatchDriver?> AttachAsync(TcpWatch watch, ICheckEngine? stopped)
    {
        await Task.Yield(); // Watch() returns at once, whatever starting the engine costs
        IWatchDriver? driver;
        try
        {
            ICheckEngine engine = stopped is null
                ? await _shaker.EngineAsync().ConfigureAwait(false)
                : await _shaker.EngineAfterAsync(stopped).ConfigureAwait(false);
            driver = engine is IWatchEngine loops && _clock == TimeProvider.System && LoopWatchDriver.CanRun(watch)
                ? _loopDrivers.GetOrAdd(loops, e => new LoopWatchDriver(e, this))
                : TimerDriver();
        }
        catch (EngineStartException)
        {
            // No engine now (no fd for epoll, say): the timer driver's checks report it and retry the start.
            driver = TimerDriver();
        }
        catch (ObjectDisposedException)
        {
            Publish(watch.MarkUnknown(WatchStopReasons.EngineStopped));
            return null;
        }
        catch (EngineFaultedException exception)
        {
            Publish(watch.MarkUnknown(WatchStopReasons.ChecksStopped(exception)));
            return null;
        }
#pragma warning disable CA1031 // a watch that cannot start must say so, not vanish; the timer driver retries every round
        catch (Exception exception)
#pragma warning restore CA1031
        {
            Publish(watch.MarkUnknown(WatchStopReasons.AttachFailed(exception)));
            driver = TimerDriver();
        }

        if (driver is null || watch.IsDisposed || !driver.Add(watch))
        {
            return null;
        }

        return driver;
    }

    /// <summary>The timer driver, made on first use; null once the monitor is disposed.</summary>
    private TimerWatchDriver? TimerDriver()
    {
        lock (_lifecycle)
        {
            return _disposed ? null : _timerDriver ??= new TimerWatchDriver(_shaker, this, _clock);
        }
    }

    private static async Task DetachAsync(TcpWatch watch, Task<IWatchDriver?> attached)
    {
        if (await attached.ConfigureAwait(false) is { } driver)
        {
            await driver.RemoveAsync(watch).ConfigureAwait(false);
        }
    }

    /// <summary>The staleness guard's active half: verdicts nobody renewed end as Unknown, with an event. The timer's thread.</summary>
    private void SweepStale()
    {
        // The dictionary's own enumerator: .Keys would copy every watch twice a second (16 B a check at 10,000 watches).
        foreach (KeyValuePair<TcpWatch, Task<IWatchDriver?>> entry in _watches)
        {
            Publish(entry.Key.ExpireIfStale());
        }
    }

    /// <summary>
    /// Raises the queued changes in order. Nothing a meter listener, a logger or a handler does stops it: each
    /// runs on its own, and a failure is logged (if even the logger fails, it is dropped).
    /// </summary>
#pragma warning disable CA1031 // see above: delivery must outlive any subscriber's bug
    private async Task RaiseEventsAsync()
    {
        await foreach (TcpHealthChange change in _changes.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (change.Watch.IsDisposed)
            {
                continue;
            }

            string endpoint = change.Watch.Endpoint.ToString();
            try
            {
                _metrics.Transition(change);
            }
            catch (Exception exception)
            {
                TryLog(() => Log.MonitorInstrumentFailed(_logger, endpoint, exception));
            }

            TryLog(() => LogChange(change, endpoint));
            if (HealthChanged is not { } handlers)
            {
                continue;
            }

            t_raising = this;
            try
            {
                foreach (EventHandler<TcpHealthChange> handler in handlers.GetInvocationList().Cast<EventHandler<TcpHealthChange>>())
                {
                    try
                    {
                        handler(this, change);
                    }
                    catch (Exception exception)
                    {
                        TryLog(() => Log.HealthChangedHandlerFailed(_logger, endpoint, exception));
                    }
                }
            }
            finally
            {
                t_raising = null;
            }
        }
    }

    private static void TryLog(Action log)
    {
        try
        {
            log();
        }
        catch (Exception)
        {
            // A logging provider that throws loses its own line, nothing more.
        }
    }
#pragma warning restore CA1031

    private void LogChange(TcpHealthChange change, string endpoint)
    {
        switch (change.Current)
        {
            case TcpTargetHealth.Down:
                Log.WatchDown(_logger, endpoint, change.Reason, change.LastResult.Describe());
                break;
            case TcpTargetHealth.Up:
                Log.WatchUp(_logger, endpoint, change.Previous, change.Reason);
                break;
            default:
                Log.WatchUnknown(_logger, endpoint, change.Previous, change.Reason);
                break;
        }
    }
}
