using System.Net;
using HealthChecks.TcpShaker.Diagnostics;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>The Linux half-open checker: one or more <see cref="EpollLoop"/>s, fed round-robin.</summary>
internal sealed class EpollEngine : ICheckEngine
{
    private readonly EpollLoop[] _loops;
    private readonly OperationPool _pool = new();
    private readonly CheckLimiter _limiter;
    private readonly TcpShakerMetrics _metrics;
    private uint _next;

    internal EpollEngine(TcpShakerOptions options, TcpShakerMetrics metrics)
    {
        _metrics = metrics;
        _limiter = new CheckLimiter(options.MaxChecksInFlight);
        _loops = new EpollLoop[options.LoopCount];
        for (int i = 0; i < _loops.Length; i++)
        {
            try
            {
                _loops[i] = new EpollLoop(i, options.MaxConnectsPerIteration, metrics, _limiter);
            }
            catch (EngineStartException)
            {
                // Loops already made hold an epoll fd and an eventfd: run each once to its shutdown, which closes them.
                foreach (EpollLoop made in _loops.Take(i))
                {
                    made.Stop();
                    made.Start();
                }

                throw;
            }
        }

        foreach (EpollLoop loop in _loops)
        {
            loop.Start();
        }
    }

    public TcpShakerMode Mode => TcpShakerMode.HalfOpen;

    internal IReadOnlyList<EpollLoop> Loops => _loops;

    /// <summary>Called when a loop dies, so the owner can log it once.</summary>
    internal Task<Exception?> FirstFault => Task.WhenAny(_loops.Select(l => l.Stopped)).ContinueWith(
        _ => _loops.Select(l => l.Fault).FirstOrDefault(f => f is not null), TaskScheduler.Default);

    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_limiter.TryAcquire())
        {
            _metrics.CheckStarted();
            _metrics.CheckCompleted(TcpCheckStatus.LocalError, TcpShakerMode.HalfOpen, TimeSpan.Zero, endPoint);
            return new ValueTask<TcpCheckResult>(new TcpCheckResult(TcpCheckStatus.LocalError, TimeSpan.Zero, endPoint, TcpCheckDescriptions.TooManyInFlight));
        }

        EpollLoop loop = _loops.Length == 1 ? _loops[0] : _loops[Interlocked.Increment(ref _next) % (uint)_loops.Length];
        CheckOperation operation = _pool.Rent();
        ValueTask<TcpCheckResult> result = operation.Start(loop, endPoint, timeout, cancellationToken);
        _metrics.CheckStarted();
        loop.Enqueue(operation);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (EpollLoop loop in _loops)
        {
            loop.Stop();
        }

        await Task.WhenAll(_loops.Select(l => l.Stopped)).ConfigureAwait(false);
    }
}
