using HealthChecks.TcpShaker.Engine;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>What a driver tells the monitor: changes of health (for the event queue, drained off the loop thread) and watches whose checks stopped.</summary>
internal interface IHealthChangeSink
{
    /// <summary>Queues a change; never blocks, never runs a handler on the calling thread.</summary>
    void Publish(TcpHealthChange change);

    /// <summary>
    /// The engine's loop stopped under <paramref name="watch"/> (<paramref name="stopped"/>: a fault, or the engine's
    /// stop): the watch no longer knows, and runs again in the engine that replaces <paramref name="engine"/>, if any.
    /// Any thread (the stopping loop's); never blocks.
    /// </summary>
    void ChecksStopped(TcpWatch watch, ICheckEngine engine, Exception stopped);
}
