using System.Net;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>The half-open engine (Linux): one or more <see cref="EpollLoop"/>s, fed round-robin.</summary>
internal sealed class HalfOpenEngine : IWatchEngine
{
    private readonly EpollLoop[] _loops;
    private readonly OperationPool _pool = new();
    private readonly CheckAccounting _accounting;
    private readonly LoopWatches[] _loopWatches;
    private uint _next;

    /// <exception cref="EngineStartException">A loop could not be set up; the loops already made are stopped.</exception>
    internal HalfOpenEngine(TcpShakerOptions options, TcpShakerMetrics metrics)
    {
        _accounting = new CheckAccounting(options.MaxChecksInFlight, TcpShakerMode.HalfOpen, metrics);
        _loops = new EpollLoop[options.LoopCount];
        for (int i = 0; i < _loops.Length; i++)
        {
            try
            {
                _loops[i] = new EpollLoop(i, options.MaxConnectsPerIteration, metrics, _accounting, options.RaiseLoopPriority);
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

        _loopWatches = _loops.Select(l => l.Watches).ToArray();
        foreach (EpollLoop loop in _loops)
        {
            loop.Start();
        }
    }

    public TcpShakerMode Mode => TcpShakerMode.HalfOpen;

    internal IReadOnlyList<EpollLoop> Loops => _loops;

    public IReadOnlyList<LoopWatches> LoopWatches => _loopWatches;

    /// <summary>Once every loop thread runs: 0, or the first errno that refused a raised priority.</summary>
    internal async Task<int> PriorityRaisedAsync()
    {
        int[] outcomes = await Task.WhenAll(_loops.Select(l => l.PriorityRaised)).ConfigureAwait(false);
        return outcomes.FirstOrDefault(errno => errno != 0);
    }

    /// <summary>The first loop fault, once any loop has stopped (null when they stopped cleanly).</summary>
    public Task<Exception?> FirstFault => Task.WhenAny(_loops.Select(l => l.Stopped)).ContinueWith(
        _ => _loops.Select(l => l.Fault).FirstOrDefault(f => f is not null), TaskScheduler.Default);

    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_accounting.TryBegin(endPoint, out TcpCheckResult refused))
        {
            return new ValueTask<TcpCheckResult>(refused);
        }

        EpollLoop loop = _loops.Length == 1 ? _loops[0] : _loops[Interlocked.Increment(ref _next) % (uint)_loops.Length];
        CheckOperation operation = _pool.Rent();
        ValueTask<TcpCheckResult> result = operation.Start(loop, endPoint, timeout, cancellationToken);
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
