using System.Net;
using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>A cluster of three real Kestrel backends behind a real YARP: one stops, is marked down, and comes back.</summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(250);
    private static readonly string[] Names = ["a", "b", "c"];
    private const int Rise = 2;
    private const int Fall = 3;

    // Margin over the model's bound: the change is handed from the checking loop to a thread-pool thread, then to
    // YARP's destination updater, and the test polls every 5 ms, on a 2-core machine that other test classes share.
    // 750 ms covers that with room; the figures printed show the real times, well inside it.
    private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(750);

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_stopped_backend_gets_no_traffic_within_fall_intervals_and_takes_traffic_again_within_rise_intervals()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Backend b = await Backend.StartAsync("b");
        await using Backend c = await Backend.StartAsync("c");
        await using Proxy proxy = await Proxy.StartAsync(
            [Clusters.Shaker("shop", [("a", a.Address), ("b", b.Address), ("c", c.Address)], Interval, Timeout, Rise, Fall)]);

        await Proxy.WaitUntilAsync(() => Names.All(d => proxy.Active("shop", d) == DestinationHealth.Healthy),
            TimeSpan.FromSeconds(5), "all three destinations healthy");
        await SendAsync(proxy, 30, expectErrors: false);
        Assert.True(b.Requests > 0, "b takes traffic while up");

        // Down: stopping b closes its listener, so each check gets RST at once; fall checks take fall x interval.
        await b.StopAsync();
        TimeSpan down = await Proxy.WaitUntilAsync(() => proxy.Active("shop", "b") == DestinationHealth.Unhealthy,
            Fall * Interval + Timeout + Margin, "b marked unhealthy");
        output.WriteLine($"time to down: {down.TotalMilliseconds:F0} ms (bound {(Fall * Interval + Timeout).TotalMilliseconds} ms + margin)");

        // Once marked down no request goes to b, so no client sees an error (b could not answer one).
        long aBefore = a.Requests, cBefore = c.Requests;
        await SendAsync(proxy, 40, expectErrors: false);
        Assert.Equal(40, a.Requests - aBefore + (c.Requests - cBefore));

        // Up again on the same port: rise successes in a row, one interval apart (the first within an interval).
        long bBefore = b.Requests;
        await b.RestartAsync();
        TimeSpan up = await Proxy.WaitUntilAsync(() => proxy.Active("shop", "b") == DestinationHealth.Healthy,
            Rise * Interval + Margin, "b healthy again");
        output.WriteLine($"time to up: {up.TotalMilliseconds:F0} ms (bound {(Rise * Interval).TotalMilliseconds} ms + margin)");

        await SendAsync(proxy, 30, expectErrors: false);
        Assert.True(b.Requests - bBefore >= 5, $"b takes its share of traffic again ({b.Requests - bBefore} of 30)");
    }

    private static async Task SendAsync(Proxy proxy, int count, bool expectErrors)
    {
        for (int i = 0; i < count; i++)
        {
            using HttpResponseMessage response = await proxy.Client.GetAsync("/shop/x", TestContext.Current.CancellationToken);
            if (!expectErrors)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }
    }
}
