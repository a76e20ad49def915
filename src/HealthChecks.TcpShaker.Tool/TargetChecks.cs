namespace HealthChecks.TcpShaker.Tool;

/// <summary>One target's results: each address it resolved to, and whether it counts as open.</summary>
internal sealed record TargetReport(TcpEndpoint Target, IReadOnlyList<TcpCheckResult> Results, bool IsOpen);

/// <summary>Checks several targets at once; a host name's every address is checked and shown.</summary>
internal static class TargetChecks
{
    internal static async Task<TargetReport[]> CheckAsync(TcpShaker shaker, IReadOnlyList<TcpEndpoint> targets, TimeSpan timeout, bool requireAllAddresses, CancellationToken cancellationToken)
    {
        var checks = new Task<IReadOnlyList<TcpCheckResult>>[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            checks[i] = shaker.CheckAllAddressesAsync(targets[i], timeout, null, cancellationToken);
        }

        IReadOnlyList<TcpCheckResult>[] results = await Task.WhenAll(checks);
        var reports = new TargetReport[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            reports[i] = new TargetReport(targets[i], results[i], IsOpen(results[i], requireAllAddresses));
        }

        return reports;
    }

    /// <summary>A target is open when any of its addresses is, or with <paramref name="requireAllAddresses"/> when all are.</summary>
    internal static bool IsOpen(IReadOnlyList<TcpCheckResult> results, bool requireAllAddresses) =>
        results.Count > 0 && (requireAllAddresses ? results.All(r => r.IsOpen) : results.Any(r => r.IsOpen));

    internal static bool AllOpen(IEnumerable<TargetReport> reports) => reports.All(r => r.IsOpen);

    internal static string Policy(bool requireAllAddresses) =>
        requireAllAddresses ? "every address of a name must be open" : "any open address of a name is enough";
}
