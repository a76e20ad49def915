using HealthChecks.TcpShaker.HealthCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Tests.HealthCheck;

/// <summary>The probe coordinator on loopback (no root): sharing, reuse within MinimumInterval, and expiry.</summary>
public sealed class SingleFlightTests
{
    [Fact]
    [Trait("Category", "Timing")]
    public async Task Concurrent_checks_of_one_endpoint_share_one_probe_and_later_ones_probe_again()
    {
        using var silent = new SilentTarget();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var coordinator = new TcpProbeCoordinator();
        var endpoint = TcpEndpoint.FromIPEndPoint(silent.EndPoint);
        // The 200 calls are made in one synchronous loop (microseconds each), all well inside the
        // first probe's 1 s; later calls come after it finished and probe again.
        var timeout = TimeSpan.FromSeconds(1);
        var ct = TestContext.Current.CancellationToken;

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => coordinator.CheckAllAddressesAsync(shaker, endpoint, null, timeout, TimeSpan.Zero, ct)));
        long afterConcurrent = coordinator.ProbesStarted;
        await coordinator.CheckAllAddressesAsync(shaker, endpoint, null, timeout, TimeSpan.Zero, ct);
        var otherTimeout = coordinator.CheckAllAddressesAsync(shaker, endpoint, null, TimeSpan.FromMilliseconds(100), TimeSpan.Zero, ct);
        await otherTimeout;

        Assert.All(concurrent, r => Assert.Equal(TcpCheckStatus.Timeout, Assert.Single(r).Status));
        Assert.Same(concurrent[0], concurrent[199]); // one shared result
        Assert.Equal(1, afterConcurrent);
        Assert.Equal(3, coordinator.ProbesStarted); // no interval: the next check probes; another timeout is another key
    }

    [Fact]
    public async Task A_minimum_interval_reuses_the_last_result_until_it_passes()
    {
        var listener = new LoopbackListener();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var clock = new FakeTimeProvider();
        var coordinator = new TcpProbeCoordinator(clock);
        var endpoint = TcpEndpoint.FromIPEndPoint(listener.EndPoint);
        // The interval is measured on the coordinator's clock: the reuse comes with the clock standing still,
        // the fresh check once it has moved 1 ms past the interval (no wait for real time).
        var interval = TimeSpan.FromSeconds(2);
        var ct = TestContext.Current.CancellationToken;

        var first = await coordinator.CheckAllAddressesAsync(shaker, endpoint, null, TimeSpan.FromSeconds(2), interval, ct);
        listener.Dispose(); // the port closes: a reused result still says open
        var reused = await coordinator.CheckAllAddressesAsync(shaker, endpoint, null, TimeSpan.FromSeconds(2), interval, ct);
        clock.Advance(interval - TimeSpan.FromMilliseconds(1));
        var stillReused = await coordinator.CheckAllAddressesAsync(shaker, endpoint, null, TimeSpan.FromSeconds(2), interval, ct);
        long probesWithin = coordinator.ProbesStarted;
        clock.Advance(TimeSpan.FromMilliseconds(2));
        var fresh = await coordinator.CheckAllAddressesAsync(shaker, endpoint, null, TimeSpan.FromSeconds(2), interval, ct);

        Assert.Equal(TcpCheckStatus.Open, Assert.Single(first).Status);
        Assert.Same(first, reused);
        Assert.Same(first, stillReused);
        Assert.Equal(1, probesWithin);
        Assert.Equal(TcpCheckStatus.Refused, Assert.Single(fresh).Status);
        Assert.Equal(2, coordinator.ProbesStarted);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Health_check_runs_in_one_container_share_the_coordinator()
    {
        using var silent = new SilentTarget();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTcpShakerEngine(o => o.VerifyOnStart = false);
        services.AddHealthChecks()
            .AddTcpShaker("a", o => { o.Endpoints.Add(silent.EndPoint.ToString()); o.Timeout = TimeSpan.FromSeconds(2); })
            .AddTcpShaker("b", o => { o.Endpoints.Add(silent.EndPoint.ToString()); o.Timeout = TimeSpan.FromSeconds(2); });
        await using ServiceProvider provider = services.BuildServiceProvider();
        var health = provider.GetRequiredService<HealthCheckService>();

        HealthReport[] reports = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => health.CheckHealthAsync(TestContext.Current.CancellationToken)));

        Assert.All(reports, r => Assert.Equal(HealthStatus.Unhealthy, r.Status));
        Assert.Equal(1, provider.GetRequiredService<TcpProbeCoordinator>().ProbesStarted); // 100 check runs, one probe
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3_600_001)]
    public void An_out_of_range_MinimumInterval_is_rejected_at_registration(int milliseconds)
    {
        var exception = Assert.ThrowsAny<ArgumentException>(() => new ServiceCollection().AddHealthChecks().AddTcpShaker("cached", o =>
        {
            o.Endpoints.Add("127.0.0.1:9");
            o.MinimumInterval = TimeSpan.FromMilliseconds(milliseconds);
        }));

        Assert.Contains("'cached' has MinimumInterval", exception.Message, StringComparison.Ordinal);
    }
}
