namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// The sample asks for raw SYN mode (<c>PreferRawSyn: true</c> in appsettings.json): the real process checks with
/// raw SYNs where it may open raw sockets, and without CAP_NET_RAW checks half-open and says why once.
/// </summary>
[Collection(RunningSampleGroup.Name)]
public sealed class SampleModeTests(RunningSample sample)
{
    private const string RawSynUnavailable = "TcpShaker does not use RawSyn mode";

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HealthJson> HealthAsync(RunningSample app)
    {
        using var client = new HttpClient { BaseAddress = app.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        using HttpResponseMessage response = await client.GetAsync(new Uri("health", UriKind.Relative), Ct);
        return await HealthJson.ReadAsync(response, Ct);
    }

    [Fact]
    public async Task With_CAP_NET_RAW_the_sample_checks_in_RawSyn_mode_and_shows_it_in_health_metrics_and_log()
    {
        string? unavailable = RawSocketAccess.SkipReason();
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);

        HealthJson health = await HealthAsync(sample);
        using var client = new HttpClient { BaseAddress = sample.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        string metrics = await client.GetStringAsync(new Uri("metrics", UriKind.Relative), Ct);

        Assert.Equal("RawSyn", health.Entry("self-http").GetProperty("data").GetProperty("mode").GetString());
        Assert.False(health.Entry("self-http").GetProperty("data").TryGetProperty("modeReason", out _)); // the mode asked for: nothing to explain
        System.Text.Json.JsonElement self = health.EndpointReport("self-http", $"127.0.0.1:{sample.Port}");
        Assert.Equal("Open", self.GetProperty("status").GetString());
        Assert.Equal("RawSyn", self.GetProperty("mode").GetString());
        Assert.Equal("Refused", health.EndpointReport("dependencies", sample.DependencyEndpoint).GetProperty("status").GetString());
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("tcpshaker_checks_total{", StringComparison.Ordinal)
            && line.Contains("tcpshaker_mode=\"raw_syn\"", StringComparison.Ordinal));
        Assert.True(await sample.WaitForOutputAsync("TcpShaker started in RawSyn mode", Limit, Ct), sample.Output);
        Assert.DoesNotContain(RawSynUnavailable, sample.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_CAP_NET_RAW_the_sample_checks_half_open_and_logs_why_once()
    {
        string? unavailable = RawSocketAccess.SkipReason() ?? (File.Exists("/usr/sbin/capsh") ? null : "needs capsh to drop CAP_NET_RAW");
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);

        // capsh drops CAP_NET_RAW from the bounding set, so the sample runs without it even as root.
        await using var dropped = new RunningSample(["/usr/sbin/capsh", "--drop=cap_net_raw", "--", "-c"]);
        await dropped.InitializeAsync();
        HealthJson first = await HealthAsync(dropped);
        HealthJson second = await HealthAsync(dropped);

        foreach (HealthJson health in new[] { first, second })
        {
            Assert.Equal("HalfOpen", health.Entry("self-http").GetProperty("data").GetProperty("mode").GetString());
            Assert.Equal(
                "raw SYN mode is unavailable: the process may not open raw sockets (it lacks CAP_NET_RAW)",
                health.Entry("self-http").GetProperty("data").GetProperty("modeReason").GetString());
            System.Text.Json.JsonElement self = health.EndpointReport("self-http", $"127.0.0.1:{dropped.Port}");
            Assert.Equal("Open", self.GetProperty("status").GetString());
            Assert.Equal("HalfOpen", self.GetProperty("mode").GetString());
        }

        Assert.True(await dropped.WaitForOutputAsync("TcpShaker started in HalfOpen mode", Limit, Ct), dropped.Output);
        string reason = Assert.Single(dropped.Output.Split('\n'), line => line.Contains(RawSynUnavailable, StringComparison.Ordinal));
        Assert.Contains("it lacks CAP_NET_RAW", reason, StringComparison.Ordinal);
        Assert.StartsWith("warn:", dropped.Output.Split('\n').TakeWhile(line => !line.Contains(RawSynUnavailable, StringComparison.Ordinal)).Last(), StringComparison.Ordinal);
    }
}
