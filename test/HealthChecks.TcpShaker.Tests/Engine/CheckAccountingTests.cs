namespace HealthChecks.TcpShaker.Tests.Engine;

/// <summary>The in-flight cap the check accounting keeps.</summary>
public sealed class CheckAccountingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Past_the_in_flight_cap_a_check_is_a_local_error()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { MaxChecksInFlight = 2 });
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener();

        // Two held for 2 s: the third is made right after them, so they are still in flight unless
        // the machine stalls this test for seconds.
        ValueTask<TcpCheckResult> a = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        ValueTask<TcpCheckResult> b = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        TcpCheckResult third = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);
        await a;
        await b;
        TcpCheckResult afterwards = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.LocalError, third.Status);
        Assert.Contains("too many checks in flight", third.Describe(), StringComparison.Ordinal);
        Assert.Equal(TcpCheckStatus.Open, afterwards.Status);
    }
}
