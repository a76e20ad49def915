using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.Epoll;
using HealthChecks.TcpShaker.Monitoring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker;

/// <summary>
/// Watches many targets continuously, as HAProxy and Envoy watch their backends: each checked on its own
/// schedule (<see cref="TcpWatchOptions.Interval"/>, spread over it), judged by rise and fall, with one
/// <see cref="HealthChanged"/> event and one log line per change of health. Checks go through the shared
/// <see cref="TcpShaker"/>, so they are half-open where it is. Watches of IP addresses run inside the
/// half-open engine's loop (no allocation, no thread-pool hop per check); host names are re-resolved every round.
/// </summary>
public sealed class TcpShakerMonitor : IAsyncDisposable, IHealthChangeSink
{
    private readonly TcpShaker _shaker;
    private readonly TcpWatchOptions _defaults;
    private readonly ILogger _logger;
    private readonly MonitorMetrics _metrics;
    private readonly ConcurrentDictionary<TcpWatch, Task<IWatchDriver?>> _watches = new();
    private readonly ConcurrentDictionary<Task, byte> _detaching = new();
    private readonly ConcurrentDictionary<IWatchEngine, LoopWatchDriver> _loopDrivers = new();
    private readonly Channel<TcpHealthChange> _changes = Channel.CreateUnbounded<TcpHealthChange>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly Task _events;
    private readonly Lazy<TimerWatchDriver> _timerDriver;
    private int _disposed;

    /// <summary>Creates a monitor that checks through <paramref name="shaker"/>.</summary>
    /// <param name="shaker">The checker; it must outlive the monitor.</param>
    /// <param name="defaults">Settings for watches that bring none; <see langword="null"/> for HAProxy's defaults (2 s, rise 2, fall 3).</param>
    /// <param name="loggerFactory">Where to log changes of health (one line each); <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Where to create the <c>HealthChecks.TcpShaker</c> meter for watch metrics; <see langword="null"/> for a meter of its own.</param>
    /// <exception cref="ArgumentException"><paramref name="defaults"/> holds a setting out of range.</exception>
    public TcpShakerMonitor(TcpShaker shaker, TcpWatchOptions? defaults = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(shaker);
        _shaker = shaker;
        _defaults = (defaults ?? new TcpWatchOptions()).Clone();
        _defaults.Validate("the monitor's defaults");
        _logger = (ILogger?)loggerFactory?.CreateLogger<TcpShakerMonitor>() ?? NullLogger.Instance;
        _metrics = new MonitorMetrics(meterFactory, this);
        _timerDriver = new Lazy<TimerWatchDriver>(() => new TimerWatchDriver(_shaker, this));
        _events = Task.Run(RaiseEventsAsync);
    }

    /// <summary>
    /// Raised once per change of health, in order per watch, on a thread-pool thread (never on the
    /// checking loop). A handler that throws is logged and does not stop later events.
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
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        TcpWatchOptions settings = (options ?? _defaults).Clone();
        settings.Validate($"the watch of {endpoint}");
        var watch = new TcpWatch(this, endpoint, settings);
        _watches[watch] = AttachAsync(watch);
        return watch;
    }

    /// <summary>Stops every watch (closing every socket of theirs) and raises the events still queued.</summary>
    /// <returns>A task that completes when no watch runs any more.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (TcpWatch watch in _watches.Keys)
        {
            watch.MarkDisposed();
            Remove(watch);
        }

        await Task.WhenAll(_detaching.Keys).ConfigureAwait(false);
        if (_timerDriver.IsValueCreated)
        {
            await _timerDriver.Value.DisposeAsync().ConfigureAwait(false);
        }

        _changes.Writer.TryComplete();
        await _events.ConfigureAwait(false);
        _metrics.Dispose();
    }

    /// <summary>Test hook: the driver that runs <paramref name="watch"/>, once attached (null when it is not, or no longer, watched).</summary>
    internal Task<IWatchDriver?> DriverOfAsync(TcpWatch watch) =>
        _watches.TryGetValue(watch, out Task<IWatchDriver?>? attached) ? attached : Task.FromResult<IWatchDriver?>(null);

    /// <summary>Stops one watch (its <see cref="TcpWatch.Dispose"/>).</summary>
    internal void Remove(TcpWatch watch)
    {
        if (_watches.TryRemove(watch, out Task<IWatchDriver?>? attached))
        {
            Task detach = DetachAsync(watch, attached);
            _detaching[detach] = 0;
            _ = detach.ContinueWith(static (t, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(t, out _),
                _detaching, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Queues a change of health for the event thread. Any thread, never blocks.</summary>
    void IHealthChangeSink.Publish(TcpHealthChange change) => _changes.Writer.TryWrite(change);

    private async Task<IWatchDriver?> AttachAsync(TcpWatch watch)
    {
        await Task.Yield(); // Watch() returns at once, whatever starting the engine costs
        IWatchDriver driver;
        try
        {
            driver = await _shaker.EngineAsync().ConfigureAwait(false) is IWatchEngine engine && LoopWatchDriver.CanRun(watch)
                ? _loopDrivers.GetOrAdd(engine, e => new LoopWatchDriver(e, this))
                : _timerDriver.Value;
        }
        catch (Exception exception) when (exception is EngineStartException or ObjectDisposedException)
        {
            // No engine now (no fd for epoll, say): the timer driver's checks report it and retry the start.
            driver = _timerDriver.Value;
        }

        if (watch.IsDisposed)
        {
            return null;
        }

        driver.Add(watch);
        return driver;
    }

    private static async Task DetachAsync(TcpWatch watch, Task<IWatchDriver?> attached)
    {
        if (await attached.ConfigureAwait(false) is { } driver)
        {
            await driver.RemoveAsync(watch).ConfigureAwait(false);
        }
    }

    private async Task RaiseEventsAsync()
    {
        await foreach (TcpHealthChange change in _changes.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (change.Watch.IsDisposed)
            {
                continue;
            }

            _metrics.Transition(change);
            if (change.Current == TcpTargetHealth.Down)
            {
                Log.WatchDown(_logger, change.Watch.Endpoint.ToString(), change.Reason, change.LastResult.Describe());
            }
            else
            {
                Log.WatchUp(_logger, change.Watch.Endpoint.ToString(), change.Previous, change.Reason);
            }

            try
            {
                HealthChanged?.Invoke(this, change);
            }
#pragma warning disable CA1031 // a subscriber's bug must not stop the events of every other watch
            catch (Exception exception)
#pragma warning restore CA1031
            {
                Log.HealthChangedHandlerFailed(_logger, change.Watch.Endpoint.ToString(), exception);
            }
        }
    }
}
