using System.Diagnostics;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// Shared state of one load run: hands out check numbers (bounded in count and time), records each
/// check's latency and outcome into preallocated arrays, and snapshots the allocated bytes when the
/// 10% and 90% marks complete, so bytes per check exclude start-up and drain.
/// </summary>
internal sealed class LoadRecorder
{
    private readonly int _total;
    private readonly long _stopAt;
    private readonly long[] _latencyTicks;
    private readonly int[] _statuses = new int[8];
    private readonly int _lowMark;
    private readonly int _highMark;
    private readonly TaskCompletionSource _allDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next;
    private int _done;
    private int _workersLeft;
    private long _allocatedAtLow;
    private long _allocatedAtHigh;
    private long _startedAt;
    private long _finishedAt;
    private TimeSpan _cpuAtStart;
    private TimeSpan _cpuAtEnd;

    internal LoadRecorder(int total, int budgetMs, int workers)
    {
        _total = total;
        _stopAt = Stopwatch.GetTimestamp() + (budgetMs * Stopwatch.Frequency / 1000);
        _latencyTicks = new long[total];
        _lowMark = Math.Max(1, total / 10);
        _highMark = Math.Max(_lowMark + 1, total * 9 / 10);
        _workersLeft = workers;
    }

    internal Task AllDone => _allDone.Task;

    internal int Completed => Volatile.Read(ref _done);

    internal void MarkStart()
    {
        _cpuAtStart = CpuTime.Process();
        _startedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>The next check's number, or false when the run is complete or out of time.</summary>
    internal bool TryNext(out int index)
    {
        index = Interlocked.Increment(ref _next) - 1;
        return index < _total && Stopwatch.GetTimestamp() < _stopAt;
    }

    internal void Record(int index, long startedTicks, int status)
    {
        _latencyTicks[index] = Stopwatch.GetTimestamp() - startedTicks;
        Interlocked.Increment(ref _statuses[status]);
        int done = Interlocked.Increment(ref _done);
        if (done == _lowMark)
        {
            _allocatedAtLow = GC.GetTotalAllocatedBytes(true);
        }
        else if (done == _highMark)
        {
            _allocatedAtHigh = GC.GetTotalAllocatedBytes(true);
        }
    }

    internal void WorkerExited()
    {
        if (Interlocked.Decrement(ref _workersLeft) == 0)
        {
            _finishedAt = Stopwatch.GetTimestamp();
            _cpuAtEnd = CpuTime.Process();
            _allDone.TrySetResult();
        }
    }

    internal void Fill(CaseResult result, Func<int, string> statusName)
    {
        int done = Completed;
        result.SetCounts(_statuses, done, statusName);

        result.Seconds = Stopwatch.GetElapsedTime(_startedAt, _finishedAt).TotalSeconds;
        result.ChecksPerSecond = done / result.Seconds;
        result.Extra["cpu_us_per_check"] = (_cpuAtEnd - _cpuAtStart).TotalMicroseconds / done;
        if (_allocatedAtHigh > 0 && done >= _highMark)
        {
            result.BytesPerCheck = (double)(_allocatedAtHigh - _allocatedAtLow) / (_highMark - _lowMark);
        }

        double[] ms = new double[Math.Min(done, _total)];
        int n = 0;
        for (int i = 0; i < ms.Length; i++)
        {
            if (_latencyTicks[i] > 0)
            {
                ms[n++] = _latencyTicks[i] * 1000.0 / Stopwatch.Frequency;
            }
        }

        result.LatencyMs = Percentiles.Of(ms.AsSpan(0, n));
        if (done < _total)
        {
            result.Notes.Add($"stopped after {done} of {_total} checks (time budget)");
        }
    }
}
