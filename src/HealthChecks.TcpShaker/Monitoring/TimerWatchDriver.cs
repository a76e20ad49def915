using System.Diagnostics;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// Runs watches through <see cref="TcpShaker.CheckAllAddressesAsync"/> on a schedule kept by one task:
/// host names (re-resolved every round), and every watch when the engine is the full-connect one.
/// </summary>
internal sealed class TimerWatchDriver : IWatchDriver, IAsyncDisposable
{
    private readonly TcpShaker _shaker;
    private readonly IHealthChangeSink _sink;
    private readonly PriorityQueue<TcpWatch, long> _due = new();
    private readonly Dictionary<TcpWatch, Round> _rounds = [];
    private readonly SemaphoreSlim _changed = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _schedule;

    internal TimerWatchDriver(TcpShaker shaker, IHealthChangeSink sink)
    {
        _shaker = shaker;
        _sink = sink;
        _schedule = Task.Run(ScheduleAsync);
    }

    public void Add(TcpWatch watch)
    {
        lock (_due)
        {
            _rounds[watch] = new Round();
            _due.Enqueue(watch, watch.ScheduleFirst(Stopwatch.GetTimestamp()));
        }

        _changed.Release();
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

    private async Task ScheduleAsync()
    {
        CancellationToken stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            long wait = Timeout.Infinite;
            lock (_due)
            {
                long now = Stopwatch.GetTimestamp();
                while (_due.TryPeek(out TcpWatch? watch, out long due) && due <= now)
                {
                    _due.Dequeue();
                    if (_rounds.TryGetValue(watch, out Round? round))
                    {
                        round.Running = RunRoundAsync(watch, round);
                    }
                }

                if (_due.TryPeek(out _, out long next))
                {
                    wait = Math.Max(1, (long)Math.Ceiling((next - now) * 1000.0 / Stopwatch.Frequency));
                }
            }

            try
            {
                await _changed.WaitAsync(TimeSpan.FromMilliseconds(wait), stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RunRoundAsync(TcpWatch watch, Round round)
    {
        await Task.Yield(); // off the scheduler's lock
        TcpWatchOptions options = watch.Options;
        TcpCheckResult verdict;
        try
        {
            IReadOnlyList<TcpCheckResult> results = await _shaker.CheckAllAddressesAsync(watch.Endpoint, options.Timeout, options.AddressFamily, round.Canceled.Token).ConfigureAwait(false);
            verdict = TcpCheckResults.Combine(results, options.RequireAllAddresses);
        }
        catch (OperationCanceledException) when (round.Canceled.IsCancellationRequested)
        {
            return; // removed
        }
        catch (ObjectDisposedException)
        {
            return; // the shaker was disposed under the monitor: nothing left to check with
        }

        if (round.Canceled.IsCancellationRequested)
        {
            return;
        }

        if (watch.Record(verdict, DateTimeOffset.UtcNow) is { } change)
        {
            _sink.Publish(change);
        }

        lock (_due)
        {
            if (_rounds.ContainsKey(watch))
            {
                _due.Enqueue(watch, watch.ScheduleNext(Stopwatch.GetTimestamp()));
            }
        }

        _changed.Release();
    }

    public async ValueTask DisposeAsync()
    {
        TcpWatch[] watches;
        lock (_due)
        {
            watches = [.. _rounds.Keys];
        }

        foreach (TcpWatch watch in watches)
        {
            await RemoveAsync(watch).ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _schedule.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
        _changed.Dispose();
    }

    private sealed class Round
    {
        internal CancellationTokenSource Canceled { get; } = new();

        internal Task? Running { get; set; }
    }
}
