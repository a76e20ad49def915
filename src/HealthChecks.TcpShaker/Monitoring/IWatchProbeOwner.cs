namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>What a loop tells the driver of its watch probes (the monitor's loop driver). Loop thread; never blocks.</summary>
internal interface IWatchProbeOwner
{
    /// <summary>A probe's round changed its watch's health.</summary>
    void Publish(TcpHealthChange change);

    /// <summary>The loop stopped while the probe's watch was running (<paramref name="stopped"/> says why: a fault, or the engine's stop).</summary>
    void LoopStopped(WatchProbe probe, Exception stopped);
}
