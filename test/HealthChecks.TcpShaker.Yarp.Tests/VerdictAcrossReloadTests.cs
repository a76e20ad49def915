using System.Net;
using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>
/// What YARP's active health says across reloads and rounds: a reload that changes only a setting keeps a destination's
/// verdict, an HTTP round that outlives a reload never overwrites the half-open verdict (and stands when the cluster went
/// back to HTTP), and every round writes the current verdict again, Unknown included. YARP's schedule and the rounds run
/// on a <see cref="FakeTimeProvider"/>; the watches' own checks run in real time on loopback.
/// </summary>
public sealed class VerdictAcrossReloadTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    // A silent destination's check lasts its whole timeout: a watch's first result (which decides) is that far off.
    private static readonly TimeSpan SilentTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan HttpInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_known_down_destination_stays_unhealthy_and_unrouted_across_a_reload_that_changes_only_jitter()
    {
        await using Backend a = await Backend.StartAsync("a");
        using var down = new SilentTarget(); // a dead backend that drops SYNs: each check lasts its timeout
        string downAddress = $"http://{down.EndPoint}/";
        var time = new FakeTimeProvider();
        Dictionary<string, string> metadata = new() { [TcpShakerYarp.RiseKey] = "1", [TcpShakerYarp.FallKey] = "1" };
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("a", a.Address), ("d", downAddress)], Interval, SilentTimeout, metadata: metadata)], time);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "d") == DestinationHealth.Unhealthy && proxy.Active("one", "a") == DestinationHealth.Healthy, Limit, "d down, a up");
        TcpWatch before = proxy.Monitor.Watches["one"]["d"];

        // Only the jitter changes: a new watch (new settings), same address. Its first result, which decides, is a
        // timeout 2 s away; until then the verdict it replaced must stand.
        proxy.Update([Clusters.Shaker("one", [("a", a.Address), ("d", downAddress)], Interval, SilentTimeout,
            metadata: new Dictionary<string, string>(metadata) { [TcpShakerYarp.JitterKey] = "0.1" })]);
        await Proxy.WaitUntilAsync(() => !ReferenceEquals(before, proxy.Monitor.Watches["one"]["d"]), Limit, "d's watch restarted with the jitter");
        TcpWatch after = proxy.Monitor.Watches["one"]["d"];
        Assert.Equal(0.1, proxy.Monitor.SettingsOf("one", "d")!.Value.Jitter);

        long checksAtStart = after.Checks;
        TcpTargetHealth healthAtStart = after.Health;
        int requests = 0;
        int afterDecided = 0;
        for (; requests < 2000 && afterDecided < 20; requests++)
        {
            AssertActive(proxy, DestinationHealth.Unhealthy, "one", "d");
            if (requests == 5)
            {
                time.Advance(Interval); // a round while the new watch has no verdict: it writes the carried one
            }

            using HttpResponseMessage response = await proxy.Client.GetAsync(new Uri("/one/x", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode); // a request sent to d would be a 502
            Assert.Equal("a", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            afterDecided += after.Health == TcpTargetHealth.Down ? 1 : 0;
            await Task.Delay(5, TestContext.Current.CancellationToken); // paced: 2,000 requests span 10 s at least
        }

        Assert.Equal(20, afterDecided); // the new watch decided within the loop's bound
        time.Advance(Interval);
        AssertActive(proxy, DestinationHealth.Unhealthy, "one", "d");
        Assert.True(requests > 40, $"only {requests} requests before the new watch decided (it had {checksAtStart} checks and was {healthAtStart} at the first)");
    }

    [Fact]
    public async Task A_carried_verdict_lasts_until_the_new_watch_decides_and_no_longer_than_its_limit()
    {
        using var down = new SilentTarget();
        string downAddress = $"http://{down.EndPoint}/";
        var time = new FakeTimeProvider();
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("d", downAddress)], Interval, SilentTimeout, rise: 1, fall: 1)], time);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "d") == DestinationHealth.Unhealthy, Limit, "d down");

        // New settings: the new watch decides at its first result, a timeout 2 s away. Its carried verdict lasts at
        // most (max(rise, fall) + 1) x (interval + timeout) = 21 x 2,100 ms on the integration's clock.
        proxy.Update([Clusters.Shaker("one", [("d", downAddress)], Interval, SilentTimeout, rise: 20, fall: 20)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.SettingsOf("one", "d")?.Fall == 20, Limit, "the new watch");
        TcpWatch watch = proxy.Monitor.Watches["one"]["d"];
        TimeSpan limit = proxy.Monitor.SettingsOf("one", "d")!.Value.VerdictCarryLimit;
        Assert.Equal(TimeSpan.FromMilliseconds(21 * 2_100), limit);

        time.Advance(limit - Interval);
        AssertActive(proxy, DestinationHealth.Unhealthy, "one", "d");
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health); // (real time: its first check is still waiting for its timeout)

        // Past the limit, the next round writes what the new watch knows: nothing yet.
        time.Advance(Interval * 2);
        Assert.Equal(TcpTargetHealth.Unknown, watch.Health);
        AssertActive(proxy, DestinationHealth.Unknown, "one", "d");

        // Its own verdict, when it comes, is written at once.
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "d") == DestinationHealth.Unhealthy, Limit, "the new watch's own Down");
        Assert.Equal(TcpTargetHealth.Down, watch.Health);
    }

    [Fact]
    public async Task An_http_round_ending_after_the_cluster_moved_into_the_policy_does_not_overwrite_the_tcp_verdict()
    {
        await using Backend a = await Backend.StartAsync("a");
        a.HealthStatus = 500; // HTTP says Unhealthy; the port is open, so the half-open checks say Healthy
        var time = new FakeTimeProvider();
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Http("one", [("a", a.Address)], HttpInterval, threshold: 1, timeout: Limit)], time);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "a") == DestinationHealth.Unhealthy, Limit, "YARP's initial HTTP round");

        // An HTTP round starts and is held in the backend.
        HealthHold hold = a.HoldHealth();
        await StartHttpRoundAsync(proxy, time, hold);
        int ended = proxy.HttpRoundsEnded("one");

        // Meanwhile a reload moves the cluster into the policy: the watch says Healthy.
        proxy.Update([Clusters.Shaker("one", [("a", a.Address)], Interval, Timeout, rise: 1, fall: 1)]);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "a") == DestinationHealth.Healthy, Limit, "the half-open verdict written");

        // The held round ends (with its 500, under the ConsecutiveFailures policy it captured when it started).
        hold.Release();
        await Proxy.WaitUntilAsync(() => proxy.HttpRoundsEnded("one") > ended, Limit, "the held HTTP round ended");
        AssertActive(proxy, DestinationHealth.Healthy, "one", "a");
        Assert.Equal(TcpTargetHealth.Up, proxy.Monitor.Watches["one"]["a"].Health);

        // And so it stays, round after round; YARP probes the cluster no more.
        long probes = a.HealthRequests;
        for (int i = 0; i < 5; i++)
        {
            time.Advance(HttpInterval);
            AssertActive(proxy, DestinationHealth.Healthy, "one", "a");
        }

        Assert.Equal(probes, a.HealthRequests);
    }

    [Fact]
    public async Task An_http_round_ending_after_the_cluster_moved_out_of_the_policy_stands_and_no_tcp_verdict_follows()
    {
        await using Backend a = await Backend.StartAsync("a");
        var time = new FakeTimeProvider();
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Http("one", [("a", a.Address)], HttpInterval, threshold: 1, timeout: Limit)], time);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "a") == DestinationHealth.Healthy, Limit, "YARP's initial HTTP round");

        // An HTTP round starts and is held; it will answer 500 (HTTP: Unhealthy; the port stays open, half-open: Healthy).
        a.HealthStatus = 500;
        HealthHold hold = a.HoldHealth();
        await StartHttpRoundAsync(proxy, time, hold);
        int ended = proxy.HttpRoundsEnded("one");

        // Into the policy (the watch says Healthy), and out again before the round ends.
        proxy.Update([Clusters.Shaker("one", [("a", a.Address)], Interval, Timeout, rise: 1, fall: 1)]);
        await Proxy.WaitUntilAsync(() => proxy.Active("one", "a") == DestinationHealth.Healthy, Limit, "the half-open verdict written");
        proxy.Update([Clusters.Http("one", [("a", a.Address)], HttpInterval, threshold: 1, timeout: Limit)]);
        await Proxy.WaitUntilAsync(() => proxy.Monitor.Watches.Count == 0, Limit, "the watch stopped");
        AssertActive(proxy, DestinationHealth.Unknown, "one", "a");

        // The held round ends: the cluster is YARP's again, so its verdict stands.
        hold.Release();
        await Proxy.WaitUntilAsync(() => proxy.HttpRoundsEnded("one") > ended, Limit, "the held HTTP round ended");
        AssertActive(proxy, DestinationHealth.Unhealthy, "one", "a");

        // Nothing of the half-open checks writes any more: many of their intervals pass, and YARP's next round agrees.
        for (int i = 0; i < 20; i++)
        {
            time.Advance(Interval);
        }

        await Task.Delay(Interval * 3, TestContext.Current.CancellationToken); // a queued change of the stopped watch would land now
        AssertActive(proxy, DestinationHealth.Unhealthy, "one", "a");
        int endedBefore = proxy.HttpRoundsEnded("one");
        time.Advance(HttpInterval);
        await Proxy.WaitUntilAsync(() => proxy.HttpRoundsEnded("one") > endedBefore, Limit, "YARP's next HTTP round ended");
        AssertActive(proxy, DestinationHealth.Unhealthy, "one", "a");
    }

    [Fact]
    public async Task Every_round_writes_the_current_verdict_unknown_included()
    {
        using var silent = new SilentTarget();
        Backend down = await Backend.StartAsync("down");
        await down.StopAsync();
        var time = new FakeTimeProvider();
        await using Proxy proxy = await Proxy.StartAsync(
        [
            Clusters.Shaker("undecided", [("a", $"http://{silent.EndPoint}/")], Interval, TimeSpan.FromSeconds(30)), // its first result is 30 s away
            Clusters.Shaker("down", [("d", down.Address)], Interval, Timeout, rise: 1, fall: 1),
        ], time);
        await Proxy.WaitUntilAsync(() => proxy.Active("down", "d") == DestinationHealth.Unhealthy, Limit, "d down");
        Assert.Equal(TcpTargetHealth.Unknown, proxy.Monitor.Watches["undecided"]["a"].Health);

        // Another writer through YARP's updater is dropped for a watched cluster...
        Assert.True(proxy.State.TryGetCluster("undecided", out ClusterState? undecided));
        Assert.True(proxy.State.TryGetCluster("down", out ClusterState? downCluster));
        IDestinationHealthUpdater updater = proxy.App.Services.GetRequiredService<IDestinationHealthUpdater>();
        updater.SetActive(undecided, [new NewActiveDestinationHealth(undecided.Destinations["a"], DestinationHealth.Healthy)]);
        AssertActive(proxy, DestinationHealth.Unknown, "undecided", "a");

        // ...and one that sets the state directly is undone by the next round, Unknown as much as Unhealthy.
        undecided.Destinations["a"].Health.Active = DestinationHealth.Healthy;
        downCluster.Destinations["d"].Health.Active = DestinationHealth.Healthy;
        time.Advance(Interval);
        AssertActive(proxy, DestinationHealth.Unknown, "undecided", "a");
        AssertActive(proxy, DestinationHealth.Unhealthy, "down", "d");
        Assert.Equal(TcpTargetHealth.Unknown, proxy.Monitor.Watches["undecided"]["a"].Health);
    }

    /// <summary>Asserts a destination's active health; on failure, the message holds the proxy's log (who wrote what, when).</summary>
    private static void AssertActive(Proxy proxy, DestinationHealth expected, string clusterId, string destinationId)
    {
        DestinationHealth actual = proxy.Active(clusterId, destinationId);
        if (actual != expected)
        {
            Assert.Fail($"{clusterId}/{destinationId} is {actual}, expected {expected}. Log:\n"
                + string.Join("\n", proxy.Logs.GetSnapshot().Select(r => $"{r.Timestamp:HH:mm:ss.fff} {r.Level} {r.Category} {r.Id.Name}: {r.Message}")));
        }
    }

    /// <summary>
    /// Advances YARP's clock one HTTP interval, once YARP's initial round is over (it arms its timers then), and again
    /// only if no round reached the held <c>/health</c> within a second: a second advance while a round is on its way
    /// could expire that round's probe. Bounded: 10 advances.
    /// </summary>
    private static async Task StartHttpRoundAsync(Proxy proxy, FakeTimeProvider time, HealthHold hold)
    {
        await Proxy.WaitUntilAsync(() => proxy.Monitor.InitialProbeCompleted, Limit, "YARP's initial round over");
        for (int i = 0; i < 10 && !hold.Arrived.IsCompleted; i++)
        {
            time.Advance(HttpInterval);
            await Task.WhenAny(hold.Arrived, Task.Delay(1000, TestContext.Current.CancellationToken));
        }

        Assert.True(hold.Arrived.IsCompleted, "no HTTP round reached the backend");
    }
}
