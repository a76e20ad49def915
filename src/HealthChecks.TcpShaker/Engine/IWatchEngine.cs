using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// An engine whose loops run watches themselves (<see cref="LoopWatches"/>): the half-open engine
/// (one per loop) and the raw SYN engine (its one loop). The full-connect engine has no loop.
/// </summary>
internal interface IWatchEngine : ICheckEngine
{
    /// <summary>The watches of each loop, one entry per loop.</summary>
    IReadOnlyList<LoopWatches> LoopWatches { get; }
}
