namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>A watch's state read at one instant (one lock), so its health, reason, data and sentence never disagree.</summary>
/// <param name="Health">The health, with the staleness guard applied.</param>
/// <param name="UnknownReason">Why the health is unknown after the watch could no longer check, or null.</param>
/// <param name="Since">When the health last changed.</param>
/// <param name="LastResult">The last check's result, or null before the first.</param>
/// <param name="ConsecutiveSuccesses">Open results in a row.</param>
/// <param name="ConsecutiveFailures">Failed results in a row.</param>
/// <param name="Checks">Checks completed since the watch started.</param>
/// <param name="Description">The one sentence of <see cref="TcpWatch.Describe"/>.</param>
internal readonly record struct WatchState(
    TcpTargetHealth Health,
    string? UnknownReason,
    DateTimeOffset Since,
    TcpCheckResult? LastResult,
    int ConsecutiveSuccesses,
    int ConsecutiveFailures,
    long Checks,
    string Description);
