namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>What runs watches on a schedule: the engine's loop itself (IP literals in half-open and raw SYN mode) or a timer (everything else).</summary>
internal interface IWatchDriver
{
    /// <summary>Starts running a watch; its first check is at a random point of its first interval. False when the driver has stopped and takes no watch.</summary>
    bool Add(TcpWatch watch);

    /// <summary>A completed attachment to this driver: what the monitor keeps for each watch the driver runs (one object, not one a watch).</summary>
    Task<IWatchDriver?> Attached { get; }

    /// <summary>Stops running a watch: no further checks, a check in flight is abandoned. Returns once no check of it can still report.</summary>
    ValueTask RemoveAsync(TcpWatch watch);
}
