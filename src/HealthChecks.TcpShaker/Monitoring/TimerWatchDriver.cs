namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// Runs watches through <see cref="TcpShaker.CheckAllAddressesAsync"/> on a schedule kept by one timer of the
/// monitor's <see cref="TimeProvider"/>: host names (re-resolved every round), every watch when the engine is the
/// full-connect one, and every watch of a monitor given a clock of its own (tests). A round that cannot check
/// (the engine gone, an unexpected error) makes the watch Unknown with the reason, and the schedule goes on.
/// </summary>
internal sealed class TimerWatchDriver : IWatchDriver, IAsyncDisposable
{
    /// <inheritdoc/>
    public Task<IWatchDriver?> Attached => field ??= Task.FromResult<IWatchDriver?>(this);

    private readonly TcpShaker _shaker;
    private readonly IHealthChangeSink _sink;
    private readonly TimeProvider _clock;
    private readonly PriorityQueue<TcpWatch, long> _due = new();
    private readonly Dictionary<TcpWatch, Round> _rounds = [];
    private readonly ITimer _timer;
    private long _armedFor = long.MaxValue;
    private bool _disposed;

    internal TimerWatchDriver(TcpShaker shaker, IHealthChangeSink sink, TimeProvider clock)
    {
        _shaker = shaker;
        _sink = sink;
        _clock = clock;
        _timer = clock.CreateTimer(static state => ((TimerWatchDriver)state!).StartDue(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The watches it runs.</summary>
    internal int Count
    {
        get
        {
            lock (_due)
            {
                return _rounds.Count;
            }
        }
    }

    public bool Add(TcpWatch watch)
    {
        lock (_due)
        {
            if (_disposed)
            {
                return false;
            }

            var round = new Round(new WatchCadence(watch, _clock));
            _rounds[watch] = round;
            Enqueue(watch, round.Cadence.First());
        }

        return true;
    }

    public async ValueTask RemoveAsync(TcpWatch watch)
    {
        Round? round;
        lock (_due)
        {
            _rounds.Remove(watch, out round);
        }

        if (round is not null)
        {
            await round.Canceled.CancelAsync().ConfigureAwait(false);
            if (round.Running is { } running)
            {
                await running.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            round.Canceled.Dispose();
        }
    }

    /// <summary>Under the lock: queues a watch and arms the timer if it is now the nearest.</summary>
    private void Enqueue(TcpWatch watch, long due)
    {
        _due.Enqueue(watch, due);
        if (due < _armedFor)
        {
            Arm(due);
        }
    }

    /// <summary>Under the lock.</summary>
    private void Arm(long due)
    {
        _armedFor = due;
        long wait = Math.Max(0, due - _clock.GetTimestamp());
        _timer.Change(TimeSpan.FromSeconds((double)wait / _clock.TimestampFrequency), Timeout.InfiniteTimeSpan);
    }

    /// <summary>The timer's callback: starts the rounds that are due and arms for the next.</summary>
    private void StartDue()
    {
        lock (_due)
        {
            if (_disposed)
            {
                return;
            }

            long now = _clock.GetTimestamp();
            while (_due.TryPeek(out TcpWatch? watch, out long due) && due <= now)
            {
                _due.Dequeue();
                if (_rounds.TryGetValue(watch, out Round? round))
                {
                    round.Running = RunRoundAsync(watch, round);
                }
            }

            _armedFor = long.MaxValue;
            if (_due.TryPeek(out _, out long next))
            {
                Arm(next);
            }
        }
    }

    private async Task RunRoundAsync(TcpWatch watch, Round round)
    {
        await Task.Yield(); // off the timer's lock
        TcpWatchOptions options = watch.Options;
        TcpHealthChange? change;
        try
        {
            IReadOnlyList<TcpCheckResult> results = await _shaker.CheckAllAddressesAsync(watch.Endpoint, options.Timeout, options.AddressFamily, round.Canceled.Token).ConfigureAwait(false);
            if (round.Canceled.IsCancellationRequested)
            {
                return;
            }

            change = watch.Record(AddressResults.Combine(results, options.RequireAllAddresses));
        }
        catch (OperationCanceledException) when (round.Canceled.IsCancellationRequested)
        {
            return; // removed
        }
        catch (ObjectDisposedException)
        {
            // The shaker was disposed under the monitor: nothing is left to check with, so nothing is known.
            Publish(watch.MarkUnknown(WatchStopReasons.EngineStopped));
            return;
        }
#pragma warning disable CA1031 // whatever failed, the watch must not keep a verdict it can no longer renew, nor leave the schedule
        catch (Exception exception)
#pragma warning restore CA1031
        {
            change = watch.MarkUnknown(WatchStopReasons.RoundFailed(exception));
        }

        Publish(change);
        lock (_due)
        {
            if (!_disposed && _rounds.TryGetValue(watch, out Round? current))
            {
                Enqueue(watch, current.Cadence.Next());
            }
        }
    }

    private void Publish(TcpHealthChange? change)
    {
        if (change is not null)
        {
            _sink.Publish(change);
        }
    }

    public async ValueTask DisposeAsync()
    {
        TcpWatch[] watches;
        lock (_due)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            watches = [.. _rounds.Keys];
        }

        await _timer.DisposeAsync().ConfigureAwait(false);
        foreach (TcpWatch watch in watches)
        {
            await RemoveAsync(watch).ConfigureAwait(false);
        }
    }

    private sealed class Round(WatchCadence cadence)
    {
        internal WatchCadence Cadence { get; } = cadence;

        internal CancellationTokenSource Canceled { get; } = new();

        internal Task? Running { get; set; }
    }
}
