using System.Globalization;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>The half-open engine (Linux): <see cref="TcpShakerOptions.LoopCount"/> loops, each driving a <see cref="HalfOpenTransport"/>.</summary>
internal sealed class HalfOpenEngine : LoopEngine
{
    /// <exception cref="EngineStartException">A loop could not be set up; the loops already made are stopped.</exception>
    internal HalfOpenEngine(TcpShakerOptions options, TcpShakerMetrics metrics)
        : base(TcpShakerMode.HalfOpen, options, metrics, options.LoopCount, (index, accounting) => new CheckLoop(
            string.Create(CultureInfo.InvariantCulture, $"TcpShaker half-open loop {index}"),
            "checking loop",
            new HalfOpenTransport(metrics, accounting),
            options.MaxConnectsPerIteration,
            metrics,
            accounting,
            options.RaiseLoopPriority))
    {
    }
}
