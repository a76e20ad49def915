using System.Net;
using HealthChecks.TcpShaker.Diagnostics;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// An engine made of <see cref="CheckLoop"/>s (the half-open engine: one or more; the raw SYN engine: one),
/// fed round-robin: the accounting, the pooled operations, the start, the first fault and the stop, the same
/// whatever the transport. A subclass says how each loop is made.
/// </summary>
internal abstract class LoopEngine : IWatchEngine
{
    private readonly CheckLoop[] _loops;
    private readonly OperationPool _pool = new();
    private readonly CheckAccounting _accounting;
    private readonly LoopWatches[] _loopWatches;
    private uint _next;

    /// <param name="mode">The engine's mode.</param>
    /// <param name="options">The engine's options (<see cref="TcpShakerOptions.MaxChecksInFlight"/>).</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="loopCount">How many loops to make.</param>
    /// <param name="makeLoop">Makes loop <c>i</c> over the engine's accounting.</param>
    /// <exception cref="EngineStartException">A loop could not be set up; the loops already made are stopped.</exception>
    private protected LoopEngine(TcpShakerMode mode, TcpShakerOptions options, TcpShakerMetrics metrics, int loopCount, Func<int, CheckAccounting, CheckLoop> makeLoop)
    {
        Mode = mode;
        _accounting = new CheckAccounting(options.MaxChecksInFlight, mode, metrics);
        _loops = new CheckLoop[loopCount];
        for (int i = 0; i < _loops.Length; i++)
        {
            try
            {
                _loops[i] = makeLoop(i, _accounting);
            }
            catch (EngineStartException)
            {
                // Loops already made hold an epoll fd, an eventfd and a transport: run each once to its shutdown, which closes them.
                foreach (CheckLoop made in _loops.Take(i))
                {
                    made.Stop();
                    made.Start();
                }

                throw;
            }
        }

        _loopWatches = _loops.Select(l => l.Watches).ToArray();
        foreach (CheckLoop loop in _loops)
        {
            loop.Start();
        }
    }

    /// <inheritdoc/>
    public TcpShakerMode Mode { get; }

    /// <summary>The engine's loops.</summary>
    internal IReadOnlyList<CheckLoop> Loops => _loops;

    /// <inheritdoc/>
    public IReadOnlyList<LoopWatches> LoopWatches => _loopWatches;

    /// <summary>The first loop fault, once any loop has stopped (null when they stopped cleanly).</summary>
    public Task<Exception?> FirstFault => Task.WhenAny(_loops.Select(l => l.Stopped)).ContinueWith(
        _ => _loops.Select(l => l.Fault).FirstOrDefault(f => f is not null), TaskScheduler.Default);

    /// <inheritdoc/>
    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_accounting.TryBegin(endPoint, out TcpCheckResult refused))
        {
            return new ValueTask<TcpCheckResult>(refused);
        }

        CheckLoop loop = _loops.Length == 1 ? _loops[0] : _loops[Interlocked.Increment(ref _next) % (uint)_loops.Length];
        CheckOperation operation = _pool.Rent();
        ValueTask<TcpCheckResult> result = operation.Start(loop, endPoint, timeout, cancellationToken);
        loop.Enqueue(operation);
        return result;
    }

    /// <summary>Once every loop thread runs: 0, or the first errno that refused a raised priority.</summary>
    internal async Task<int> PriorityRaisedAsync()
    {
        int[] outcomes = await Task.WhenAll(_loops.Select(l => l.PriorityRaised)).ConfigureAwait(false);
        return outcomes.FirstOrDefault(errno => errno != 0);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (CheckLoop loop in _loops)
        {
            loop.Stop();
        }

        await Task.WhenAll(_loops.Select(l => l.Stopped)).ConfigureAwait(false);
    }
}
