namespace HealthChecks.TcpShaker;

/// <summary>
/// What a watched TCP health check knows of one endpoint; the values of
/// <see cref="Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Data"/> for a registration with
/// <see cref="TcpShakerCheckOptions.Watch"/>, keyed by endpoint. Shown by HealthChecks UI and any JSON writer.
/// </summary>
public sealed class TcpWatchReport
{
    /// <summary><c>Unknown</c>, <c>Up</c> or <c>Down</c>.</summary>
    public required string Health { get; init; }

    /// <summary>Why the health is <c>Unknown</c> after the watch could no longer check ("engine stopped", "no result since ..."); <see langword="null"/> otherwise.</summary>
    public string? UnknownReason { get; init; }

    /// <summary>When the health last changed (for <c>Unknown</c>: when the watch started).</summary>
    public required DateTimeOffset Since { get; init; }

    /// <summary>Open results in a row.</summary>
    public required int ConsecutiveSuccesses { get; init; }

    /// <summary>Failed results in a row.</summary>
    public required int ConsecutiveFailures { get; init; }

    /// <summary>Checks made since the watch started.</summary>
    public required long Checks { get; init; }

    /// <summary>The last check, per address; <see langword="null"/> before the first.</summary>
    public required TcpEndpointReport? LastResult { get; init; }

    /// <summary>The recent results, oldest first: status and time.</summary>
    public required IReadOnlyList<TcpWatchSample> Recent { get; init; }
}
