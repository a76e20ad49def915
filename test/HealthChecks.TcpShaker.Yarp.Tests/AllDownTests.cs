using System.Net;
using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>
/// Every destination down: YARP's availability policy decides, as for its own checks. With the default
/// <c>HealthyOrPanic</c> the proxy tries them all (panic mode: a request may still reach one that came back before
/// its watch says so); with <c>HealthyAndUnknown</c> it answers 503 without trying.
/// </summary>
public sealed class AllDownTests
{
    [Theory]
    [InlineData(null, HttpStatusCode.BadGateway)]                 // HealthyOrPanic (default): tried anyway, refused: 502
    [InlineData("HealthyOrPanic", HttpStatusCode.BadGateway)]
    [InlineData("HealthyAndUnknown", HttpStatusCode.ServiceUnavailable)] // no destination available: 503, none tried
    public async Task All_destinations_down_answers_as_YARPs_availability_policy_says(string? policy, HttpStatusCode expected)
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Backend b = await Backend.StartAsync("b");
        await using Proxy proxy = await Proxy.StartAsync(
            [Clusters.Shaker("all", [("a", a.Address), ("b", b.Address)], TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), rise: 1, fall: 1, availablePolicy: policy)]);
        await Proxy.WaitUntilAsync(() => proxy.Active("all", "a") == DestinationHealth.Healthy && proxy.Active("all", "b") == DestinationHealth.Healthy,
            TimeSpan.FromSeconds(5), "both healthy");

        await a.StopAsync();
        await b.StopAsync();
        await Proxy.WaitUntilAsync(() => proxy.Active("all", "a") == DestinationHealth.Unhealthy && proxy.Active("all", "b") == DestinationHealth.Unhealthy,
            TimeSpan.FromSeconds(5), "both unhealthy");

        using HttpResponseMessage response = await proxy.Client.GetAsync("/all/x", TestContext.Current.CancellationToken);
        Assert.Equal(expected, response.StatusCode);
    }
}
