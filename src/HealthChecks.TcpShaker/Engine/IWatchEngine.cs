using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// An engine whose loops run watches themselves (<see cref="LoopWatches"/>): a <see cref="LoopEngine"/>,
/// half-open (one per loop) or raw SYN (its one loop). The full-connect engine has no loop.
/// </summary>
internal interface IWatchEngine : ICheckEngine
{
    /// <summary>The watches of each loop, one entry per loop.</summary>
    IReadOnlyList<LoopWatches> LoopWatches { get; }
}
