namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>The kernel counters a row reports, as the change over the row (read with <see cref="Testing.NetNamespace.ReadCounters"/>).</summary>
internal static class ReportedCounters
{
    internal static readonly string[] Names =
        ["TcpExtDelayedACKs", "TcpPassiveOpens", "TcpExtListenOverflows", "TcpRetransSegs", "TcpActiveOpens", "TcpExtTCPTimeouts", "TcpExtListenDrops", "TcpOutRsts", "TcpExtEmbryonicRsts"];

    internal static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after)
    {
        var delta = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string name in Names)
        {
            delta[name] = after.GetValueOrDefault(name) - before.GetValueOrDefault(name);
        }

        return delta;
    }
}
