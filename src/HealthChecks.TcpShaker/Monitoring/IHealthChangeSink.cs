namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>Where a driver hands a watch's change of health: the monitor's event queue, drained off the loop thread.</summary>
internal interface IHealthChangeSink
{
    /// <summary>Queues a change; never blocks, never runs a handler on the calling thread.</summary>
    void Publish(TcpHealthChange change);
}
