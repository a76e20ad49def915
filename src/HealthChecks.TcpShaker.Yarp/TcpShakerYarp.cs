namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// The names a YARP cluster uses to ask for half-open active health checks: <c>HealthCheck:Active:Policy</c> set to
/// <see cref="PolicyName"/>, and the optional <c>Metadata</c> keys below for what YARP's own settings do not say.
/// </summary>
public static class TcpShakerYarp
{
    /// <summary>The active health check policy that turns the half-open checks on for a cluster: <c>TcpShaker</c> (case-insensitive, as YARP compares policy names).</summary>
    public const string PolicyName = "TcpShaker";

    /// <summary>The cluster metadata key prefix every setting of this package starts with; any other key with it is an error (a typo would otherwise go unnoticed).</summary>
    public const string MetadataPrefix = "TcpShaker.";

    /// <summary>Successes in a row that make a destination healthy, 1 to 1,000 (HAProxy <c>rise</c>). Default 2.</summary>
    public const string RiseKey = "TcpShaker.Rise";

    /// <summary>Failures in a row that make a destination unhealthy, 1 to 1,000 (HAProxy <c>fall</c>). Default 3.</summary>
    public const string FallKey = "TcpShaker.Fall";

    /// <summary>Between checks while a change is pending, a time span in YARP's format, such as <c>00:00:00.500</c> (HAProxy <c>fastinter</c>). Default: the interval.</summary>
    public const string FastIntervalKey = "TcpShaker.FastInterval";

    /// <summary>Between checks while a destination is unhealthy, a time span in YARP's format (HAProxy <c>downinter</c>). Default: the interval.</summary>
    public const string DownIntervalKey = "TcpShaker.DownInterval";

    /// <summary>A fraction of the interval, 0 to 0.5, by which each check fires late at random (HAProxy <c>spread-checks</c>). Default 0.</summary>
    public const string JitterKey = "TcpShaker.Jitter";
}
