namespace HealthChecks.TcpShaker.Sample;

/// <summary>The tags that sort the checks between the probes.</summary>
internal static class SampleTags
{
    /// <summary>Checks of the process itself: <c>/livez</c>.</summary>
    public const string Live = "live";

    /// <summary>Checks of what the app needs to serve traffic: <c>/readyz</c>.</summary>
    public const string Ready = "ready";
}
