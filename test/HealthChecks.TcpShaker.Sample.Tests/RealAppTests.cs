using System.Net;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>The sample as a real process on a real port, called over HTTP like a probe or a browser would.</summary>
[Collection(RunningSampleGroup.Name)]
public sealed class RealAppTests(RunningSample sample)
{
    private HttpClient Client() => new() { BaseAddress = sample.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Livez_answers_200_healthy()
    {
        using HttpClient client = Client();
        using HttpResponseMessage response = await client.GetAsync("livez", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", (await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken)).Status);
    }

    [Theory]
    [InlineData("readyz")]
    [InlineData("health")]
    public async Task Readiness_checks_the_apps_own_port_open_and_the_closed_dependency_refused(string path)
    {
        using HttpClient client = Client();
        using HttpResponseMessage response = await client.GetAsync(path, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
        Assert.Equal("Healthy", health.EntryStatus("self-http"));
        Assert.Equal("Open", health.EndpointReport("self-http", $"127.0.0.1:{sample.Port}").GetProperty("status").GetString());
        Assert.Equal("Unhealthy", health.EntryStatus("dependencies"));
        Assert.Equal("Refused", health.EndpointReport("dependencies", sample.DependencyEndpoint).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Serves_the_dashboard_and_metrics_and_logs_the_failing_dependency_once()
    {
        using HttpClient client = Client();
        using (await client.GetAsync("health", TestContext.Current.CancellationToken))
        {
        }

        Assert.Contains("<title>TCP health</title>", await client.GetStringAsync("", TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Contains("tcpshaker_checks_total{", await client.GetStringAsync("metrics", TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // The publisher runs 2 s after start, then every 5 s: wait for its first report, then two more periods.
        const string changed = "Health check dependencies changed from Unknown to Unhealthy";
        for (int i = 0; i < 100 && !sample.Output.Contains(changed, StringComparison.Ordinal); i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Contains(changed, sample.Output, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(11), TestContext.Current.CancellationToken);
        Assert.Single(sample.Output.Split('\n'), line => line.Contains("Health check dependencies", StringComparison.Ordinal));
        Assert.DoesNotContain("Health check self-http", sample.Output, StringComparison.Ordinal);
    }
}
