using System.Diagnostics;
using System.Globalization;

namespace HealthChecks.TcpShaker;

/// <summary>
/// One target watched by a <see cref="TcpShakerMonitor"/>: checked on a schedule, judged by rise and fall
/// (HAProxy's counter model), with its recent history. Read it from any thread; <see cref="Dispose"/> stops watching.
/// </summary>
public sealed class TcpWatch : IDisposable
{
    /// <summary>How many recent results a watch keeps.</summary>
    public const int HistoryLength = 32;

    /// <summary>How many recent changes of health a watch keeps.</summary>
    public const int ChangeHistoryLength = 16;

    private readonly object _gate = new();
    private readonly TcpShakerMonitor _monitor;
    private readonly TcpWatchSample[] _history = new TcpWatchSample[HistoryLength];
    private readonly TcpHealthChange[] _changes = new TcpHealthChange[ChangeHistoryLength];
    private long _historyCount;
    private long _changeCount;
    private TcpTargetHealth _health;
    private DateTimeOffset _since;
    private TcpCheckResult? _lastResult;
    private int _successes;
    private int _failures;
    private TcpCheckStatus _streakStatus;
    private bool _streakMixed;
    private long _checks;
    private int _disposed;
    private long? _steadyPlaceTicks;

    internal TcpWatch(TcpShakerMonitor monitor, TcpEndpoint endpoint, TcpWatchOptions options)
    {
        _monitor = monitor;
        Endpoint = endpoint;
        Options = options;
        _since = DateTimeOffset.UtcNow;
    }

    /// <summary>The target.</summary>
    public TcpEndpoint Endpoint { get; }

    /// <summary>The health concluded so far: <see cref="TcpTargetHealth.Unknown"/> until rise or fall is reached the first time.</summary>
    public TcpTargetHealth Health
    {
        get
        {
            lock (_gate)
            {
                return _health;
            }
        }
    }

    /// <summary>When <see cref="Health"/> last changed (for <see cref="TcpTargetHealth.Unknown"/>: when the watch started).</summary>
    public DateTimeOffset Since
    {
        get
        {
            lock (_gate)
            {
                return _since;
            }
        }
    }

    /// <summary>The last check's result (for a host name: the verdict over its addresses); <see langword="null"/> before the first.</summary>
    public TcpCheckResult? LastResult
    {
        get
        {
            lock (_gate)
            {
                return _lastResult;
            }
        }
    }

    /// <summary>Open results in a row, up to now.</summary>
    public int ConsecutiveSuccesses
    {
        get
        {
            lock (_gate)
            {
                return _successes;
            }
        }
    }

    /// <summary>Failed results in a row, up to now.</summary>
    public int ConsecutiveFailures
    {
        get
        {
            lock (_gate)
            {
                return _failures;
            }
        }
    }

    /// <summary>Checks completed since the watch started.</summary>
    public long Checks => Interlocked.Read(ref _checks);

    /// <summary>The last <see cref="HistoryLength"/> results, oldest first (a copy).</summary>
    public IReadOnlyList<TcpWatchSample> RecentResults
    {
        get
        {
            lock (_gate)
            {
                return Snapshot(_history, _historyCount);
            }
        }
    }

    /// <summary>The last <see cref="ChangeHistoryLength"/> changes of health, oldest first (a copy).</summary>
    public IReadOnlyList<TcpHealthChange> RecentChanges
    {
        get
        {
            lock (_gate)
            {
                return Snapshot(_changes, _changeCount);
            }
        }
    }

    /// <summary>Whether <see cref="Dispose"/> was called (or the monitor disposed).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The settings the watch runs with (a copy made when it started).</summary>
    internal TcpWatchOptions Options { get; }

    /// <summary>Scheduling state, owned by the driver that runs the watch.</summary>
    internal long GridTicks { get; set; }

    /// <summary>One sentence: "db:5432 is down since 12:03:04Z: 3 timeouts in a row".</summary>
    /// <returns>The sentence.</returns>
    public string Describe()
    {
        lock (_gate)
        {
            string since = _since.UtcDateTime.ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            return _health switch
            {
                TcpTargetHealth.Up when _failures > 0 => $"{Endpoint} is up since {since}, but failed the last {StreakReason(false)}",
                TcpTargetHealth.Up => $"{Endpoint} is up since {since}",
                TcpTargetHealth.Down => $"{Endpoint} is down since {since}: {StreakReason(false)}",
                _ when _lastResult is null => $"{Endpoint} has no verdict yet: not checked yet",
                _ => $"{Endpoint} has no verdict yet: {(_successes > 0 ? $"{_successes} of {Options.Rise} successes" : $"{_failures} of {Options.Fall} failures")} so far",
            };
        }
    }

    /// <summary>Stops watching: no further checks, a check in flight is abandoned and its socket closed.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _monitor.Remove(this);
        }
    }

    /// <summary>Marks the watch stopped without telling the monitor (the monitor is stopping it).</summary>
    internal void MarkDisposed() => Volatile.Write(ref _disposed, 1);

    /// <summary>The interval to the next check in the current state (HAProxy: <c>fastinter</c> while a change is pending, <c>downinter</c> while down).</summary>
    internal long NextIntervalTicks()
    {
        TimeSpan interval;
        lock (_gate)
        {
            bool pending = _health == TcpTargetHealth.Unknown
                || (_health == TcpTargetHealth.Up && _failures > 0)
                || (_health == TcpTargetHealth.Down && _successes > 0);
            interval = pending ? Options.FastInterval ?? Options.Interval
                : _health == TcpTargetHealth.Down ? Options.DownInterval ?? Options.Interval
                : Options.Interval;
        }

        return (long)(interval.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// Schedules the next check after one that was due at <see cref="GridTicks"/>: the next place on the
    /// schedule, never earlier than <paramref name="now"/> (a check that outlasted its interval skips
    /// the places it missed instead of pushing every later one), plus this round's jitter. With a
    /// <see cref="TcpWatchOptions.FastInterval"/>, a watch back at its steady interval returns to its own
    /// place in that interval, drawn at random when it started, so watches that sped up together do not
    /// stay bunched in the fast interval's span.
    /// </summary>
    /// <returns>When the next check is due, in <see cref="Stopwatch"/> ticks.</returns>
    internal long ScheduleNext(long now)
    {
        long interval = NextIntervalTicks();
        long grid = GridTicks + interval;
        if (_steadyPlaceTicks is long place && interval == Ticks(Options.Interval))
        {
            // The first point of the watch's own lattice (place + k x Interval) at least a fast interval after the last check.
            long earliest = GridTicks + Math.Min(Ticks(Options.FastInterval!.Value), interval);
            grid = earliest <= place ? place : place + ((earliest - place + interval - 1) / interval * interval);
        }

        if (grid < now)
        {
            grid += (now - grid + interval - 1) / interval * interval;
        }

        GridTicks = grid;
        return grid + JitterTicks(interval);
    }

    /// <summary>
    /// Schedules the first check at a random point of the first interval (with no verdict yet, the fast
    /// one), so watches added together spread evenly over it, as HAProxy spreads its start-up checks.
    /// With a fast interval, the watch's place in its steady interval is drawn too.
    /// </summary>
    internal long ScheduleFirst(long now)
    {
        GridTicks = now + (long)(Random.Shared.NextDouble() * NextIntervalTicks());
        if (Options.FastInterval is { } fast && fast != Options.Interval)
        {
            _steadyPlaceTicks = now + (long)(Random.Shared.NextDouble() * Ticks(Options.Interval));
        }

        return GridTicks;
    }

    private static long Ticks(TimeSpan interval) => (long)(interval.TotalSeconds * Stopwatch.Frequency);

    private long JitterTicks(long interval) => Options.Jitter == 0 ? 0 : (long)(Random.Shared.NextDouble() * Options.Jitter * interval);

    /// <summary>Records a round's verdict; returns the change of health it made, if any. One thread at a time.</summary>
    internal TcpHealthChange? Record(in TcpCheckResult verdict, DateTimeOffset at)
    {
        lock (_gate)
        {
            _checks++;
            _lastResult = verdict;
            _history[_historyCount++ % HistoryLength] = new TcpWatchSample(verdict.Status, verdict.Elapsed, at);
            TcpTargetHealth previous = _health;
            if (verdict.IsOpen)
            {
                _failures = 0;
                _successes++;
                if (_health != TcpTargetHealth.Up && _successes >= Options.Rise)
                {
                    _health = TcpTargetHealth.Up;
                }
            }
            else
            {
                _streakMixed = _failures > 0 && (_streakMixed || _streakStatus != verdict.Status);
                _streakStatus = verdict.Status;
                _successes = 0;
                _failures++;
                if (_health != TcpTargetHealth.Down && _failures >= Options.Fall)
                {
                    _health = TcpTargetHealth.Down;
                }
            }

            if (_health == previous)
            {
                return null;
            }

            _since = at;
            var change = new TcpHealthChange(this, previous, _health, verdict, at) { Reason = StreakReason(verdict.IsOpen) };
            _changes[_changeCount++ % ChangeHistoryLength] = change;
            return change;
        }
    }

    /// <summary>"3 timeouts in a row", "2 successful checks in a row", "3 failed checks in a row (last: refused)".</summary>
    private string StreakReason(bool success)
    {
        if (success)
        {
            return _successes == 1 ? "1 successful check" : $"{_successes} successful checks in a row";
        }

        if (_streakMixed)
        {
            return $"{_failures} failed checks in a row (last: {_streakStatus})";
        }

        string what = _streakStatus switch
        {
            TcpCheckStatus.Timeout => _failures == 1 ? "timeout" : "timeouts",
            TcpCheckStatus.Refused => _failures == 1 ? "refusal" : "refusals",
            TcpCheckStatus.Unreachable => _failures == 1 ? "unreachable answer" : "unreachable answers",
            TcpCheckStatus.ResolveFailed => _failures == 1 ? "failed resolution" : "failed resolutions",
            _ => _failures == 1 ? "local error" : "local errors",
        };
        return _failures == 1 ? $"1 {what}" : $"{_failures} {what} in a row";
    }

    private static T[] Snapshot<T>(T[] ring, long count)
    {
        int length = (int)Math.Min(count, ring.Length);
        var copy = new T[length];
        for (int i = 0; i < length; i++)
        {
            copy[i] = ring[(count - length + i) % ring.Length];
        }

        return copy;
    }
}
