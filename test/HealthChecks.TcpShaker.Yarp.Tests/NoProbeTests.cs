using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>The destinations of a TcpShaker cluster never see a probe; YARP's own HTTP checks, as the control, send one request per probe.</summary>
public sealed class NoProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TcpShaker_destinations_see_no_connection_and_no_request_while_http_checked_ones_see_one_request_per_probe()
    {
        await using Backend s1 = await Backend.StartAsync("s1");
        await using Backend s2 = await Backend.StartAsync("s2");
        await using Backend h1 = await Backend.StartAsync("h1");
        TimeSpan interval = TimeSpan.FromMilliseconds(100);
        await using Proxy proxy = await Proxy.StartAsync(
        [
            Clusters.Shaker("shaker", [("s1", s1.Address), ("s2", s2.Address)], interval, TimeSpan.FromMilliseconds(500), rise: 1, fall: 1),
            Clusters.Http("http", [("h1", h1.Address)], interval),
        ]);

        // Both kinds of check run: the half-open watches mark their destinations healthy, YARP's prober its own.
        await Proxy.WaitUntilAsync(() => proxy.Active("shaker", "s1") == DestinationHealth.Healthy && proxy.Active("shaker", "s2") == DestinationHealth.Healthy,
            TimeSpan.FromSeconds(5), "TcpShaker destinations healthy");
        await Proxy.WaitUntilAsync(() => proxy.Active("http", "h1") == DestinationHealth.Healthy, TimeSpan.FromSeconds(5), "HTTP-checked destination healthy");

        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken); // about 20 rounds of each
        long checks = proxy.Monitor.Watches["shaker"].Values.Sum(w => w.Checks);
        output.WriteLine($"half-open checks: {checks}; s1 {s1.Connections} connections {s1.Requests + s1.HealthRequests} requests; " +
            $"s2 {s2.Connections}/{s2.Requests + s2.HealthRequests}; h1 {h1.Connections} connections {h1.HealthRequests} probe requests");

        Assert.True(checks >= 20, $"the watches checked ({checks} checks)");
        Assert.Equal(0, s1.Connections);
        Assert.Equal(0, s2.Connections);
        Assert.Equal(0, s1.Requests + s1.HealthRequests);
        Assert.Equal(0, s2.Requests + s2.HealthRequests);

        // The control: one GET /health per probe, so at least one per interval since it began (less a few for a busy machine).
        Assert.True(h1.HealthRequests >= 15, $"YARP's prober sent {h1.HealthRequests} requests");
        Assert.True(h1.Connections >= 1);
    }
}
