using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The raw SYN engine (Linux, CAP_NET_RAW): one loop driving a <see cref="RawSynTransport"/>. One loop is
/// enough for the rates this technique reaches, so <see cref="TcpShakerOptions.LoopCount"/> applies to the
/// socket modes only.
/// </summary>
internal sealed class RawSynEngine : LoopEngine
{
    /// <param name="options">The engine's options.</param>
    /// <param name="metrics">The engine's metrics.</param>
    /// <param name="clock">The clock the source ports' idle time is measured on: <see cref="TimeProvider.System"/> unless a test controls it.</param>
    /// <exception cref="EngineStartException">The raw sockets could not be opened (EPERM without CAP_NET_RAW) or set up.</exception>
    internal RawSynEngine(TcpShakerOptions options, TcpShakerMetrics metrics, TimeProvider? clock = null)
        : base(TcpShakerMode.RawSyn, options, metrics, 1, (_, accounting) => new CheckLoop(
            "TcpShaker raw SYN loop",
            "raw SYN loop",
            new RawSynTransport(options.MaxConnectsPerIteration, metrics, accounting, clock ?? TimeProvider.System),
            options.MaxConnectsPerIteration,
            metrics,
            accounting))
    {
        Transport = (RawSynTransport)Loops[0].Transport;
    }

    /// <summary>The engine's one loop.</summary>
    internal CheckLoop Loop => Loops[0];

    /// <summary>The raw transport its loop drives (ports, filters and counters tests read on the loop thread).</summary>
    internal RawSynTransport Transport { get; }
}
