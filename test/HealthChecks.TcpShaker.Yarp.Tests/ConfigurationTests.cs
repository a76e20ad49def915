using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>The configuration users write: <c>LoadFromConfig</c> with YARP's own keys and the <c>TcpShaker.*</c> metadata.</summary>
public sealed class ConfigurationTests
{
    private static Dictionary<string, string?> Settings(Backend a, Backend b, string interval = "00:00:00.100", string rise = "2") => new()
    {
        ["ReverseProxy:Routes:r:ClusterId"] = "shop",
        ["ReverseProxy:Routes:r:Match:Path"] = "/shop/{**rest}",
        ["ReverseProxy:Clusters:shop:HealthCheck:Active:Enabled"] = "true",
        ["ReverseProxy:Clusters:shop:HealthCheck:Active:Interval"] = interval,
        ["ReverseProxy:Clusters:shop:HealthCheck:Active:Timeout"] = "00:00:00.500",
        ["ReverseProxy:Clusters:shop:HealthCheck:Active:Policy"] = "TcpShaker",
        ["ReverseProxy:Clusters:shop:Metadata:TcpShaker.Rise"] = rise,
        ["ReverseProxy:Clusters:shop:Metadata:TcpShaker.Fall"] = "3",
        ["ReverseProxy:Clusters:shop:Metadata:TcpShaker.FastInterval"] = "00:00:00.050",
        ["ReverseProxy:Clusters:shop:Destinations:a:Address"] = a.Address,
        // The Health address is the one checked when set: b's, while the Address is a loopback port nothing listens on.
        ["ReverseProxy:Clusters:shop:Destinations:b:Address"] = "http://127.0.0.1:9/",
        ["ReverseProxy:Clusters:shop:Destinations:b:Health"] = $"http://127.0.0.1:{b.Port}/ignored/path",
    };

    [Fact]
    public async Task The_section_users_write_watches_each_destination_with_its_settings()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Backend b = await Backend.StartAsync("b");
        await using Proxy proxy = await Proxy.StartFromConfigurationAsync(Settings(a, b));

        await Proxy.WaitUntilAsync(() => proxy.Active("shop", "a") == DestinationHealth.Healthy && proxy.Active("shop", "b") == DestinationHealth.Healthy,
            TimeSpan.FromSeconds(5), "both healthy");
        IReadOnlyDictionary<string, TcpWatch> watches = proxy.Monitor.Watches["shop"];
        Assert.Equal($"127.0.0.1:{a.Port}", watches["a"].Endpoint.ToString());
        Assert.Equal($"127.0.0.1:{b.Port}", watches["b"].Endpoint.ToString());
        ClusterSettings settings = proxy.Monitor.SettingsOf("shop", "b")!.Value;
        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.Interval);
        Assert.Equal(TimeSpan.FromMilliseconds(500), settings.Timeout);
        Assert.Equal(2, settings.Rise);
        Assert.Equal(3, settings.Fall);
        Assert.Equal(TimeSpan.FromMilliseconds(50), settings.FastInterval);
        Assert.Null(settings.DownInterval);
    }

    [Fact]
    public async Task An_unparsable_interval_in_YARPs_own_key_fails_the_first_load_and_is_refused_at_reload()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Backend b = await Backend.StartAsync("b");

        // YARP parses HealthCheck:Active:Interval itself (format "c"): its FormatException names the value.
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() => Proxy.StartFromConfigurationAsync(Settings(a, b, interval: "soon")));
        Assert.Contains("soon", failure.ToString(), StringComparison.Ordinal);

        // At a reload YARP logs it and keeps the last good configuration: the watches run on.
        await using Proxy proxy = await Proxy.StartFromConfigurationAsync(Settings(a, b));
        TcpWatch before = proxy.Monitor.Watches["shop"]["a"];
        proxy.Reconfigure(new Dictionary<string, string?> { ["ReverseProxy:Clusters:shop:HealthCheck:Active:Interval"] = "soon" });
        await Proxy.WaitUntilAsync(() => proxy.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Error && r.Exception?.ToString().Contains("soon", StringComparison.Ordinal) == true),
            TimeSpan.FromSeconds(5), "YARP logs the unparsable value");
        Assert.Same(before, proxy.Monitor.Watches["shop"]["a"]);
        Assert.False(before.IsDisposed);

        // And this package's keys, at a reload from configuration: refused, naming the cluster and the key.
        proxy.Reconfigure(new Dictionary<string, string?>
        {
            ["ReverseProxy:Clusters:shop:HealthCheck:Active:Interval"] = "00:00:00.100",
            ["ReverseProxy:Clusters:shop:Metadata:TcpShaker.Rise"] = "0",
        });
        await Proxy.WaitUntilAsync(() => proxy.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Error
                && r.Exception?.ToString().Contains("Cluster 'shop': Metadata:TcpShaker.Rise is '0'", StringComparison.Ordinal) == true),
            TimeSpan.FromSeconds(5), "the refused rise logged with cluster and key");
        Assert.Same(before, proxy.Monitor.Watches["shop"]["a"]);
        Assert.False(before.IsDisposed);
    }
}
