using System.Diagnostics;
using System.Globalization;
using HealthChecks.TcpShaker.Monitoring;

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
    private readonly TimeProvider _clock;
    private readonly long _staleAfterTicks;
    private WatchHistory _history;
    private TcpHealthChange[] _changes = []; // grows to ChangeHistoryLength: most watches change a few times only
    private long _changeCount;
    private TcpTargetHealth _health;
    private int _healthValue; // _health, for the sweep's lock-free look
    private DateTimeOffset _since;
    private TcpCheckResult? _lastResult;
    private int _successes;
    private int _failures;
    private TcpCheckStatus _streakStatus;
    private bool _streakMixed;
    private long _checks;
    private int _disposed;
    private long _lastResultTimestamp;
    private DateTimeOffset _lastResultAt;
    private string? _unknownReason;

    internal TcpWatch(TcpShakerMonitor monitor, TcpEndpoint endpoint, TcpWatchOptions options, TimeProvider clock)
    {
        _monitor = monitor;
        _clock = clock;
        Endpoint = endpoint;
        Options = options;
        _since = clock.GetUtcNow();
        StaleAfter = StaleLimit(options);
        _staleAfterTicks = (long)(StaleAfter.TotalSeconds * clock.TimestampFrequency);
    }

    /// <summary>The target.</summary>
    public TcpEndpoint Endpoint { get; }

    /// <summary>
    /// The health concluded so far. <see cref="TcpTargetHealth.Unknown"/> until the first result (which decides,
    /// as HAProxy starts a server), and again whenever the watch cannot know: its checks stopped (the engine was
    /// disposed, its loop faulted, a round failed) or no result arrived for longer than the schedule allows
    /// (<see cref="StaleAfter"/>); <see cref="UnknownReason"/> then says why. A verdict is never served stale.
    /// </summary>
    public TcpTargetHealth Health
    {
        get
        {
            // Read by every gauge observation and health check, so no sentence is built here.
            if (Volatile.Read(ref _healthValue) == (int)TcpTargetHealth.Unknown)
            {
                return TcpTargetHealth.Unknown;
            }

            lock (_gate)
            {
                return VerdictIsStale() ? TcpTargetHealth.Unknown : _health;
            }
        }
    }

    /// <summary>
    /// Why <see cref="Health"/> is <see cref="TcpTargetHealth.Unknown"/> when it is not simply "not checked yet":
    /// "engine stopped", "loop faulted: ...", "a round failed: ...", "no result since 12:03:04Z". <see langword="null"/>
    /// while the watch has a verdict, or before its first check.
    /// </summary>
    public string? UnknownReason
    {
        get
        {
            lock (_gate)
            {
                return VerdictIsStale() ? NoResultSince() : _unknownReason;
            }
        }
    }

    /// <summary>When <see cref="Health"/> last changed (for <see cref="TcpTargetHealth.Unknown"/> before the first check: when the watch started).</summary>
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

    /// <summary>
    /// How old a verdict may grow before it is no longer served: twice the longest time the schedule allows between
    /// two results (the longest interval with its jitter, plus the timeout).
    /// </summary>
    public TimeSpan StaleAfter { get; }

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
                return _history.Snapshot();
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

    /// <summary>One sentence: "db:5432 is down since 12:03:04Z: 3 timeouts in a row".</summary>
    /// <returns>The sentence.</returns>
    public string Describe() => Read().Description;

    /// <summary>The watch's state in one read (one lock), with the staleness guard applied: health, reason and sentence agree.</summary>
    internal WatchState Read()
    {
        lock (_gate)
        {
            TcpTargetHealth health = _health;
            string? reason = _unknownReason;
            DateTimeOffset since = _since;
            if (VerdictIsStale())
            {
                health = TcpTargetHealth.Unknown;
                reason = NoResultSince();
            }

            string at = since.UtcDateTime.ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            string description = health switch
            {
                TcpTargetHealth.Up when _failures > 0 => $"{Endpoint} is up since {at}, but failed the last {StreakReason(false)}",
                TcpTargetHealth.Up => $"{Endpoint} is up since {at}",
                TcpTargetHealth.Down => $"{Endpoint} is down since {at}: {StreakReason(false)}",
                _ when reason is not null => $"{Endpoint} has no verdict: {reason}",
                _ => $"{Endpoint} has no verdict yet: not checked yet",
            };
            return new WatchState(health, reason, since, _lastResult, _successes, _failures, Interlocked.Read(ref _checks), description);
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

    /// <summary>
    /// Ends the current verdict because the watch can no longer know (its checks stopped, a round failed): health
    /// becomes <see cref="TcpTargetHealth.Unknown"/> with <paramref name="reason"/>, and the next result decides
    /// afresh. Returns the change of health it made, if any. Any thread.
    /// </summary>
    internal TcpHealthChange? MarkUnknown(string reason)
    {
        lock (_gate)
        {
            return BecomeUnknown(reason);
        }
    }

    /// <summary>
    /// The staleness sweep: a verdict older than <see cref="StaleAfter"/> ends as <see cref="MarkUnknown"/> does,
    /// whatever stopped the results (a cause nobody foresaw included). Cheap when fresh: no lock. Any thread.
    /// </summary>
    internal TcpHealthChange? ExpireIfStale()
    {
        if (Volatile.Read(ref _healthValue) == (int)TcpTargetHealth.Unknown || !IsStale(_clock.GetTimestamp()))
        {
            return null;
        }

        lock (_gate)
        {
            return VerdictIsStale() ? BecomeUnknown(NoResultSince()) : null;
        }
    }

    /// <summary>The interval to the next check in the current state (HAProxy: <c>fastinter</c> while a change is pending, <c>downinter</c> while down); <see cref="WatchCadence"/> keeps the schedule.</summary>
    internal TimeSpan CurrentInterval()
    {
        lock (_gate)
        {
            bool pending = _health == TcpTargetHealth.Unknown
                || (_health == TcpTargetHealth.Up && _failures > 0)
                || (_health == TcpTargetHealth.Down && _successes > 0);
            return pending ? Options.FastInterval ?? Options.Interval
                : _health == TcpTargetHealth.Down ? Options.DownInterval ?? Options.Interval
                : Options.Interval;
        }
    }

    /// <summary>
    /// Records a round's verdict; returns the change of health it made, if any. With no verdict (a new watch, or
    /// one whose checks had stopped) the first result decides, as HAProxy starts a server "up, going down at the
    /// first failure"; after that rise and fall apply. One thread at a time.
    /// </summary>
    internal TcpHealthChange? Record(in TcpCheckResult verdict)
    {
        DateTimeOffset at = _clock.GetUtcNow();
        lock (_gate)
        {
            Interlocked.Increment(ref _checks);
            _lastResult = verdict;
            _lastResultAt = at;
            Volatile.Write(ref _lastResultTimestamp, _clock.GetTimestamp());
            _history.Add(verdict.Status, verdict.Elapsed, at);
            TcpTargetHealth previous = _health;
            if (verdict.IsOpen)
            {
                _failures = 0;
                _successes = Saturated(_successes);
                if (_health == TcpTargetHealth.Unknown || (_health == TcpTargetHealth.Down && _successes >= Options.Rise))
                {
                    SetHealth(TcpTargetHealth.Up);
                }
            }
            else
            {
                _streakMixed = _failures > 0 && (_streakMixed || _streakStatus != verdict.Status);
                _streakStatus = verdict.Status;
                _successes = 0;
                _failures = Saturated(_failures);
                if (_health == TcpTargetHealth.Unknown || (_health == TcpTargetHealth.Up && _failures >= Options.Fall))
                {
                    SetHealth(TcpTargetHealth.Down);
                }
            }

            if (_health == previous)
            {
                return null;
            }

            _unknownReason = null;
            _since = at;
            var change = new TcpHealthChange(this, previous, _health, verdict, at) { Reason = StreakReason(verdict.IsOpen) };
            AddChange(change);
            return change;
        }
    }

    /// <summary>How old a verdict may grow: twice the longest gap the schedule allows between two results.</summary>
    private static TimeSpan StaleLimit(TcpWatchOptions options)
    {
        TimeSpan longest = options.Interval;
        longest = options.FastInterval is { } fast && fast > longest ? fast : longest;
        longest = options.DownInterval is { } down && down > longest ? down : longest;
        return 2 * ((longest * (1 + options.Jitter)) + options.Timeout);
    }

    private static int Saturated(int count) => count == int.MaxValue ? count : count + 1;

    private bool IsStale(long now) => now - Volatile.Read(ref _lastResultTimestamp) > _staleAfterTicks;

    /// <summary>Whether there is a verdict and it is older than <see cref="StaleAfter"/>: the one rule every reader applies. Under the lock.</summary>
    private bool VerdictIsStale() => _health != TcpTargetHealth.Unknown && IsStale(_clock.GetTimestamp());

    private string NoResultSince() =>
        $"no result since {_lastResultAt.UtcDateTime.ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture)} (a result is due at least every {StaleAfter.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s)";

    private void SetHealth(TcpTargetHealth health)
    {
        _health = health;
        Volatile.Write(ref _healthValue, (int)health);
    }

    /// <summary>Under the lock.</summary>
    private TcpHealthChange? BecomeUnknown(string reason)
    {
        TcpTargetHealth previous = _health;
        _unknownReason = reason;
        _successes = 0;
        _failures = 0;
        if (previous == TcpTargetHealth.Unknown || _lastResult is not { } last)
        {
            return null; // no verdict to end: the reason is kept for those who read the watch
        }

        DateTimeOffset at = _clock.GetUtcNow();
        SetHealth(TcpTargetHealth.Unknown);
        _since = at;
        var change = new TcpHealthChange(this, previous, TcpTargetHealth.Unknown, last, at) { Reason = reason };
        AddChange(change);
        return change;
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

    /// <summary>Under the lock. The ring doubles until it holds <see cref="ChangeHistoryLength"/>; until then the changes lie in order.</summary>
    private void AddChange(TcpHealthChange change)
    {
        if (_changeCount == _changes.Length && _changes.Length < ChangeHistoryLength)
        {
            Array.Resize(ref _changes, Math.Max(2, _changes.Length * 2));
        }

        _changes[_changeCount++ % _changes.Length] = change;
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
