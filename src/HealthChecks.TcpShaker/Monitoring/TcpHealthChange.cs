namespace HealthChecks.TcpShaker;

/// <summary>A watch's health changed (raised once per transition by <see cref="TcpShakerMonitor.HealthChanged"/>).</summary>
/// <param name="Watch">The watch whose health changed.</param>
/// <param name="Previous">The health before.</param>
/// <param name="Current">The health now.</param>
/// <param name="LastResult">The check that decided it; its <see cref="TcpCheckResult.RemoteEndPoint"/> is the address that changed. For a change to <see cref="TcpTargetHealth.Unknown"/>: the last result before the watch could no longer check.</param>
/// <param name="At">When the deciding check completed.</param>
public sealed record TcpHealthChange(TcpWatch Watch, TcpTargetHealth Previous, TcpTargetHealth Current, TcpCheckResult LastResult, DateTimeOffset At)
{
    /// <summary>Why, in a few words: "3 timeouts in a row", "2 successful checks in a row", "engine stopped", "no result since 12:03:04Z".</summary>
    public required string Reason { get; init; }

    /// <summary>One sentence for people and logs: "db:5432 is down: 3 timeouts in a row (10.0.0.5:5432 did not answer within 1000 ms)".</summary>
    /// <returns>The sentence.</returns>
    public string Describe() => Current switch
    {
        TcpTargetHealth.Up => $"{Watch.Endpoint} is up: {Reason}",
        TcpTargetHealth.Down => $"{Watch.Endpoint} is down: {Reason} ({LastResult.Describe()})",
        _ => $"{Watch.Endpoint} has no verdict: {Reason}",
    };
}
