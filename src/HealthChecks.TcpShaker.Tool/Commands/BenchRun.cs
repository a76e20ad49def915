using System.Diagnostics;
using System.Net;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// A bounded load run: <c>count</c> checks of one address, <c>concurrency</c> at a time. Counts each
/// status and keeps every check's time for percentiles (4 bytes a check).
/// </summary>
internal sealed class BenchRun
{
    private readonly int _count;
    private readonly float[] _latencyMs;
    private readonly int[] _statusCounts = new int[Enum.GetValues<TcpCheckStatus>().Length];
    private int _issued;
    private int _completed;
    private long _startedAt;
    private long _finishedAt;

    internal BenchRun(int count)
    {
        _count = count;
        _latencyMs = new float[count];
    }

    internal int Count => _count;

    internal int Completed => Volatile.Read(ref _completed);

    /// <summary>Time since the start; once finished, the run's duration.</summary>
    internal TimeSpan Elapsed =>
        _startedAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_startedAt, _finishedAt != 0 ? _finishedAt : Stopwatch.GetTimestamp());

    internal int CountOf(TcpCheckStatus status) => Volatile.Read(ref _statusCounts[(int)status]);

    /// <summary>Runs until every check is done or <paramref name="cancellationToken"/> stops it (checks in flight are then dropped).</summary>
    internal async Task RunAsync(TcpShaker shaker, IPEndPoint target, int concurrency, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _startedAt = Stopwatch.GetTimestamp();
        var workers = new Task[Math.Min(concurrency, _count)];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = WorkAsync(shaker, target, timeout, cancellationToken);
        }

        await Task.WhenAll(workers);
        _finishedAt = Stopwatch.GetTimestamp();
    }

    private async Task WorkAsync(TcpShaker shaker, IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        while (Interlocked.Increment(ref _issued) <= _count)
        {
            TcpCheckResult result;
            try
            {
                result = await shaker.CheckAsync(target, timeout, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Interlocked.Increment(ref _statusCounts[(int)result.Status]);
            _latencyMs[Interlocked.Increment(ref _completed) - 1] = (float)result.Elapsed.TotalMilliseconds;
        }
    }

    /// <summary>Latency percentiles (nearest rank) over every completed check, in milliseconds.</summary>
    internal (double P50, double P90, double P99, double Max) Percentiles()
    {
        int completed = Completed;
        if (completed == 0)
        {
            return default;
        }

        float[] sorted = _latencyMs[..completed];
        Array.Sort(sorted);
        return (Rank(0.50), Rank(0.90), Rank(0.99), sorted[^1]);

        double Rank(double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * completed) - 1)];
    }
}
