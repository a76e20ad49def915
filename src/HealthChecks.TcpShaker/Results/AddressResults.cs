namespace HealthChecks.TcpShaker;

/// <summary>Combines the results of one endpoint's addresses into one verdict.</summary>
internal static class AddressResults
{
    /// <summary>
    /// With <paramref name="requireAll"/> false: the first open address, else the first failure.
    /// With it true: the first failure, else the slowest open address.
    /// </summary>
    internal static TcpCheckResult Combine(IReadOnlyList<TcpCheckResult> results, bool requireAll)
    {
        if (results.Count == 0)
        {
            throw new ArgumentException("No results to combine.", nameof(results));
        }

        TcpCheckResult? firstOpen = null;
        TcpCheckResult? firstFailure = null;
        TcpCheckResult? slowestOpen = null;
        foreach (TcpCheckResult result in results)
        {
            if (result.IsOpen)
            {
                firstOpen ??= result;
                if (slowestOpen is null || result.Elapsed > slowestOpen.Value.Elapsed)
                {
                    slowestOpen = result;
                }
            }
            else
            {
                firstFailure ??= result;
            }
        }

        return requireAll
            ? firstFailure ?? slowestOpen!.Value
            : firstOpen ?? firstFailure!.Value;
    }
}
