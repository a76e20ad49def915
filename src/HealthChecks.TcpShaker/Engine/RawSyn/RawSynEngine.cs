using System.Net;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The raw SYN engine (Linux, CAP_NET_RAW): one <see cref="RawSynLoop"/>. One loop is enough for the
/// rates this technique reaches, so <see cref="TcpShakerOptions.LoopCount"/> applies to the socket modes only.
/// </summary>
internal sealed class RawSynEngine : IWatchEngine
{
    private readonly RawSynLoop _loop;
    private readonly OperationPool _pool = new();
    private readonly CheckAccounting _accounting;

    /// <param name="options">The engine's options.</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="clock">The clock the source ports' idle time is measured on: <see cref="TimeProvider.System"/> unless a test controls it.</param>
    /// <exception cref="EngineStartException">The raw sockets could not be opened (EPERM without CAP_NET_RAW) or set up.</exception>
    internal RawSynEngine(TcpShakerOptions options, TcpShakerMetrics metrics, TimeProvider? clock = null)
    {
        _accounting = new CheckAccounting(options.MaxChecksInFlight, TcpShakerMode.RawSyn, metrics);
        _loop = new RawSynLoop(options.MaxConnectsPerIteration, metrics, _accounting, clock ?? TimeProvider.System);
        LoopWatches = [_loop.Watches];
        _loop.Start();
    }

    public TcpShakerMode Mode => TcpShakerMode.RawSyn;

    internal RawSynLoop Loop => _loop;

    public IReadOnlyList<LoopWatches> LoopWatches { get; }

    public Task<Exception?> FirstFault => _loop.Stopped.ContinueWith(_ => _loop.Fault, TaskScheduler.Default);

    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_accounting.TryBegin(endPoint, out TcpCheckResult refused))
        {
            return new ValueTask<TcpCheckResult>(refused);
        }

        CheckOperation operation = _pool.Rent();
        ValueTask<TcpCheckResult> result = operation.Start(_loop, endPoint, timeout, cancellationToken);
        _loop.Enqueue(operation);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        _loop.Stop();
        await _loop.Stopped.ConfigureAwait(false);
    }
}
