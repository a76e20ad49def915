using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>Configuration reloads add and remove destinations and clusters; the watches follow, and nothing is left behind.</summary>
public sealed class ReloadTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task Watches_appear_and_disappear_with_destinations_and_clusters()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Backend b = await Backend.StartAsync("b");
        await using Backend c = await Backend.StartAsync("c");
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("a", a.Address), ("b", b.Address)], Interval, Timeout)]);
        Assert.Equal(["a", "b"], proxy.Monitor.Watches["one"].Keys.Order());

        // Add a destination and a cluster.
        proxy.Update(
        [
            Clusters.Shaker("one", [("a", a.Address), ("b", b.Address), ("c", c.Address)], Interval, Timeout),
            Clusters.Shaker("two", [("c", c.Address)], Interval, Timeout),
        ]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Watches.Count == 2 && proxy.Monitor.Watches["one"].Count == 3, TimeSpan.FromSeconds(5), "watches added");
        Assert.Equal(4, proxy.Monitor.Monitor.Watches.Count);
        await Proxy.WaitUntilAsync(() => proxy.Active("two", "c") == DestinationHealth.Healthy, TimeSpan.FromSeconds(5), "the new cluster's destination checked");
        TcpWatch kept = proxy.Monitor.Watches["one"]["a"];

        // Remove a destination and the first cluster's other ones by removing the cluster; a's watch in "one" goes with it.
        proxy.Update([Clusters.Shaker("two", [("c", c.Address)], Interval, Timeout)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Watches.Count == 1, TimeSpan.FromSeconds(5), "cluster one's watches gone");
        Assert.Single(proxy.Monitor.Monitor.Watches);
        Assert.True(kept.IsDisposed);

        // A reload that changes nothing keeps the running watch (no restart, no reset to Unknown).
        TcpWatch running = proxy.Monitor.Watches["two"]["c"];
        proxy.Update([Clusters.Shaker("two", [("c", c.Address)], Interval, Timeout)]);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Same(running, proxy.Monitor.Watches["two"]["c"]);

        // A changed setting restarts the watch with it.
        proxy.Update([Clusters.Shaker("two", [("c", c.Address)], Interval, Timeout, rise: 3)]);
        await Proxy.WaitUntilAsync(() => !ReferenceEquals(running, proxy.Monitor.Watches["two"]["c"]), TimeSpan.FromSeconds(5), "watch restarted");
        Assert.True(running.IsDisposed);
        Assert.Single(proxy.Monitor.Monitor.Watches);

        proxy.Update([]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Watches.Count == 0, TimeSpan.FromSeconds(5), "all watches gone");
        Assert.Empty(proxy.Monitor.Monitor.Watches);
    }

    [Fact]
    public async Task A_cluster_moved_between_policies_is_probed_by_exactly_one_checker()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("a", a.Address)], Interval, Timeout, rise: 1, fall: 1)]);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "a") == DestinationHealth.Healthy, TimeSpan.FromSeconds(5), "watched");

        // To YARP's HTTP checks: the watch stops, YARP's prober starts sending GET /health.
        proxy.Update([Clusters.Http("one", [("a", a.Address)], Interval)]);
        await Proxy.WaitUntilAsync(() => a.HealthRequests >= 3, TimeSpan.FromSeconds(5), "YARP probes the cluster");
        Assert.Empty(proxy.Monitor.Watches);

        // Back to TcpShaker: YARP's prober stops (one probe may be in flight at the switch), the watch runs again.
        proxy.Update([Clusters.Shaker("one", [("a", a.Address)], Interval, Timeout, rise: 1, fall: 1)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Watches.Count == 1, TimeSpan.FromSeconds(5), "watched again");
        await Task.Delay(300, TestContext.Current.CancellationToken);
        // Any request counts: a probe of a cluster without a Path would go to "/", not "/health".
        long probes = a.HealthRequests + a.Requests;
        await Task.Delay(1000, TestContext.Current.CancellationToken); // ten of YARP's intervals
        Assert.Equal(probes, a.HealthRequests + a.Requests);
        Assert.True(proxy.Monitor.Watches["one"]["a"].Checks >= 5);
    }

    [Fact]
    public async Task Many_reloads_leave_no_watch_and_no_socket_behind()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("base", [("a", a.Address)], Interval, Timeout)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Monitor.Watches.Count == 1, TimeSpan.FromSeconds(5), "started");

        for (int round = 0; round < 20; round++)
        {
            var destinations = Enumerable.Range(0, 10).Select(i => ($"d{i}", a.Address)).ToList();
            proxy.Update(
            [
                Clusters.Shaker("base", [("a", a.Address)], Interval, Timeout),
                Clusters.Shaker($"extra{round}", destinations, Interval, Timeout),
            ]);
            await Proxy.WaitUntilAsync(() => proxy.Monitor.Monitor.Watches.Count == 11, TimeSpan.FromSeconds(5), $"round {round} watched");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        proxy.Update([Clusters.Shaker("base", [("a", a.Address)], Interval, Timeout)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Monitor.Watches.Count == 1, TimeSpan.FromSeconds(5), "back to one watch");
        await Task.Delay(500, TestContext.Current.CancellationToken); // a check in flight closes its socket within its timeout

        // 211 watches came and went, all checking a: a never accepted a connection, and no socket towards it is left
        // (the one watch left may have a check in flight, which lives for a loopback round trip).
        Assert.Equal(0, a.Connections);
        Assert.True(SocketsTo(a.Port) <= 1, $"{SocketsTo(a.Port)} sockets towards port {a.Port} after 20 reloads of 10 watches");
        Assert.Equal(0, SocketsTo(a.Port, timeWaitOnly: true));
    }

    [Fact]
    public async Task Stopping_the_proxy_stops_every_watch()
    {
        await using Backend a = await Backend.StartAsync("a");
        Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("a", a.Address), ("b", a.Address)], Interval, Timeout)]);
        TcpWatch[] watches = [.. proxy.Monitor.Monitor.Watches];
        Assert.Equal(2, watches.Length);

        await proxy.DisposeAsync();
        Assert.All(watches, w => Assert.True(w.IsDisposed));
        Assert.Empty(proxy.Monitor.Monitor.Watches);
    }

    private static readonly string[] TcpTables = ["/proc/net/tcp", "/proc/net/tcp6"];

    /// <summary>TCP sockets of this network namespace whose remote port is <paramref name="port"/> (/proc/net/tcp and tcp6; TIME_WAIT is state 06).</summary>
    private static int SocketsTo(int port, bool timeWaitOnly = false) =>
        TcpTables.Where(File.Exists).SelectMany(File.ReadLines).Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f.Length > 3 && f[1] != "local_address"
                && int.Parse(f[2].AsSpan(f[2].IndexOf(':', StringComparison.Ordinal) + 1), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) == port
                && (!timeWaitOnly || f[3] == "06"));
}
