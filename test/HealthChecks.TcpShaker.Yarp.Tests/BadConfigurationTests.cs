using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Microsoft.Extensions.Logging.Testing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>A setting that cannot be watched fails the first load and is refused at a reload (the last good configuration stays), with an error naming the cluster and the key.</summary>
public sealed class BadConfigurationTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    public static TheoryData<string, string> BadClusters => new()
    {
        { "rise0", "Metadata:TcpShaker.Rise is '0'" },
        { "fastsoon", "Metadata:TcpShaker.FastInterval is 'soon', not a time span" },
        { "interval1ms", "HealthCheck:Active:Interval is '00:00:00.0010000'" },
        { "nohost", "destination 'x': Address 'http://:8080/'" },
        { "typo", "Metadata:TcpShaker.Rize is not a TcpShaker setting" },
    };

    private static ClusterConfig Bad(string kind, string address) => kind switch
    {
        "rise0" => Clusters.Shaker(kind, [("x", address)], Interval, Timeout, rise: 0),
        "fastsoon" => Clusters.Shaker(kind, [("x", address)], Interval, Timeout, metadata: new Dictionary<string, string> { [TcpShakerYarp.FastIntervalKey] = "soon" }),
        "interval1ms" => Clusters.Shaker(kind, [("x", address)], TimeSpan.FromMilliseconds(1), Timeout),
        "nohost" => Clusters.Shaker(kind, [("x", "http://:8080/")], Interval, Timeout),
        "typo" => Clusters.Shaker(kind, [("x", address)], Interval, Timeout, metadata: new Dictionary<string, string> { ["TcpShaker.Rize"] = "2" }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(BadClusters))]
    public async Task At_load_the_proxy_does_not_start_and_says_which_cluster_and_key(string kind, string expected)
    {
        await using Backend a = await Backend.StartAsync("a");
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => Proxy.StartAsync([Bad(kind, a.Address)]));
        string messages = Messages(failure);
        Assert.Contains($"Cluster '{kind}'", messages, StringComparison.Ordinal);
        Assert.Contains(expected, messages, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BadClusters))]
    public async Task At_reload_the_proxy_keeps_its_last_good_configuration_and_logs_which_cluster_and_key(string kind, string expected)
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("good", [("a", a.Address)], Interval, Timeout)]);
        TcpWatch watch = proxy.Monitor.Watches["good"]["a"];

        proxy.Update([Clusters.Shaker("good", [("a", a.Address)], Interval, Timeout, rise: 1), Bad(kind, a.Address)]);
        FakeLogRecord error = await WaitForErrorAsync(proxy);
        string messages = Messages(error.Exception!);
        Assert.Contains($"Cluster '{kind}'", messages, StringComparison.Ordinal);
        Assert.Contains(expected, messages, StringComparison.Ordinal);

        // Nothing of the refused configuration applied: the good cluster's watch runs on, and it still routes.
        Assert.False(proxy.State.TryGetCluster(kind, out _));
        Assert.Same(watch, proxy.Monitor.Watches["good"]["a"]);
        Assert.False(watch.IsDisposed);
        await Proxy.WaitUntilAsync(() => proxy.Active("good", "a") == DestinationHealth.Healthy, TimeSpan.FromSeconds(5), "good destination healthy");
        using HttpResponseMessage response = await proxy.Client.GetAsync("/good/x", TestContext.Current.CancellationToken);
        Assert.Equal("a", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    private static async Task<FakeLogRecord> WaitForErrorAsync(Proxy proxy)
    {
        FakeLogRecord? found = null;
        await Proxy.WaitUntilAsync(() =>
        {
            found = proxy.Logs.GetSnapshot().FirstOrDefault(r => r.Level == Microsoft.Extensions.Logging.LogLevel.Error && r.Exception is not null);
            return found is not null;
        }, TimeSpan.FromSeconds(5), "YARP logs the refused configuration");
        return found!;
    }

    private static string Messages(Exception exception)
    {
        var all = new List<string>();
        void Walk(Exception e)
        {
            all.Add(e.Message);
            if (e is AggregateException aggregate)
            {
                foreach (Exception inner in aggregate.InnerExceptions)
                {
                    Walk(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                Walk(inner);
            }
        }

        Walk(exception);
        return string.Join(" | ", all);
    }
}
