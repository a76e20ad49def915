namespace HealthChecks.TcpShaker;

/// <summary>One check in a watch's recent history.</summary>
/// <param name="Status">What the check found (for a host name: the verdict over its addresses).</param>
/// <param name="Elapsed">How long it took.</param>
/// <param name="At">When it completed.</param>
public readonly record struct TcpWatchSample(TcpCheckStatus Status, TimeSpan Elapsed, DateTimeOffset At);
