using System.Net;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Reliability.Tests.HealthCheck;

/// <summary>
/// A flood of requests to /health must not become a flood of SYNs at the target. The target lives in
/// a namespace of the test's own; an iptables rule there counts every SYN that reaches it.
/// </summary>
[Collection(nameof(ProcessWide))]
public sealed class AmplificationTests
{
    private const int Requests = 1_000;

    [Fact]
    public async Task The_counter_counts_one_SYN_per_direct_check()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint target) = ns.ListenCountingSyns();
        using var _ = listener;
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => shaker.CheckAsync(target, TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken).AsTask()));

        Assert.All(results, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.Equal(50, ns.IptablesPackets("INPUT", "ACCEPT"));
        Assert.Equal(50, ns.Counter("TcpExtEmbryonicRsts"));
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_thousand_concurrent_health_requests_to_a_slow_target_share_one_probe()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7020);
        var reference = ns.DropPort(7022);
        // A 5.5 s probe: every request must reach the app while the one probe is still running, or a
        // late request rightly starts a second one. 1,000 loopback requests arrive within a second
        // or two even on a busy machine; the spread is measured below, so a slower machine fails
        // with that number rather than with a vague probe count. How many SYNs one probe sends
        // (the first and the kernel's retransmissions) depends on the kernel (6 within 5.5 s on
        // 6.18 with tcp_syn_linear_timeouts=4, retransmitting every second; 3 before 6.5, at 1 and
        // 3 s), so a single direct check of a second silent port, run alongside, is the reference;
        // 5.5 s keeps the deadline 0.5 s away from a retransmission under either schedule.
        var timeout = TimeSpan.FromMilliseconds(5500);
        var arrivals = new System.Collections.Concurrent.ConcurrentQueue<long>();
        await using var app = await StartAppAsync(target.ToString(), TimeSpan.Zero, timeout, arrivals);
        await using var direct = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });

        Task<TcpCheckResult> single = direct.CheckAsync(reference, timeout, TestContext.Current.CancellationToken).AsTask();
        HttpStatusCode[] statuses = await FloodAsync(app);
        Assert.Equal(TcpCheckStatus.Timeout, (await single).Status);
        long syns = ns.IptablesPackets("INPUT", "DROP", target.Port);
        long oneProbesSyns = ns.IptablesPackets("INPUT", "DROP", reference.Port);
        long probes = app.Services.GetRequiredService<global::HealthChecks.TcpShaker.HealthCheck.TcpProbeCoordinator>().ProbesStarted;
        TimeSpan spread = System.Diagnostics.Stopwatch.GetElapsedTime(arrivals.Min(), arrivals.Max());

        TestContext.Current.TestOutputHelper?.WriteLine($"{Requests} requests within {spread.TotalMilliseconds:0} ms -> {probes} probe(s), {syns} SYN(s) counted in the namespace (one direct check: {oneProbesSyns})");
        Assert.Equal(Requests, arrivals.Count);
        Assert.True(spread < timeout, $"the requests took {spread.TotalSeconds:0.0} s to arrive, longer than the probe's {timeout.TotalSeconds:0.0} s");
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s));
        Assert.Equal(1, probes);
        Assert.InRange(oneProbesSyns, 1, 10);
        Assert.Equal(oneProbesSyns, syns);
    }

    [Fact]
    public async Task With_a_minimum_interval_a_thousand_requests_cause_one_SYN()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint target) = ns.ListenCountingSyns();
        using var _ = listener;
        await using var app = await StartAppAsync(target.ToString(), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(2));

        HttpStatusCode[] statuses = await FloodAsync(app);
        long syns = ns.IptablesPackets("INPUT", "ACCEPT");

        TestContext.Current.TestOutputHelper?.WriteLine($"{Requests} requests -> {syns} SYN(s), {ns.Counter("TcpExtEmbryonicRsts")} embryonic reset(s), {ns.Counter("TcpPassiveOpens")} passive open(s)");
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(1, syns);
        Assert.Equal(0, ns.Counter("TcpPassiveOpens"));
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_caller_that_gives_up_does_not_cancel_the_shared_probe()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7021);
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var coordinator = new global::HealthChecks.TcpShaker.HealthCheck.TcpProbeCoordinator();
        var endpoint = TcpEndpoint.FromIPEndPoint(target);
        var timeout = TimeSpan.FromMilliseconds(800);
        using var impatient = new CancellationTokenSource();

        var first = coordinator.CheckAllAddressesAsync(shaker, endpoint, null, timeout, TimeSpan.Zero, impatient.Token);
        var second = coordinator.CheckAllAddressesAsync(shaker, endpoint, null, timeout, TimeSpan.Zero, TestContext.Current.CancellationToken);
        // 100 ms in, the shared 800 ms probe is running; it must still run to its own timeout.
        await Task.Delay(100, TestContext.Current.CancellationToken);
        impatient.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        var shared = await second;
        Assert.Equal(TcpCheckStatus.Timeout, Assert.Single(shared).Status);
        Assert.True(Assert.Single(shared).Elapsed >= timeout, "the probe ran to its own timeout");
        Assert.Equal(1, coordinator.ProbesStarted);
    }

    [Theory]
    [Trait("Category", "Timing")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Checks_past_MaxChecksInFlight_fail_at_once_with_the_in_flight_limit_and_the_engine_recovers(bool forceFullConnect)
    {
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false, MaxChecksInFlight = 10, ForceFullConnect = forceFullConnect });
        var ct = TestContext.Current.CancellationToken;

        // Held for 2 s: the next check comes right after, so they are still in flight unless this
        // test is stalled for seconds.
        var held = Enumerable.Range(0, 10).Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), ct).AsTask()).ToArray();
        var refused = await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct);
        var heldResults = await Task.WhenAll(held);
        var after = await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct);

        Assert.Equal(TcpCheckStatus.LocalError, refused.Status);
        Assert.Equal(TcpCheckErrorKind.InFlightLimit, refused.ErrorKind);
        Assert.Equal(0, refused.ErrorCode);
        Assert.Equal(TimeSpan.Zero, refused.Elapsed);
        Assert.Contains("too many checks in flight", refused.Describe(), StringComparison.Ordinal);
        Assert.All(heldResults, r => Assert.Equal(TcpCheckStatus.Timeout, r.Status));
        Assert.Equal(TcpCheckStatus.Open, after.Status);
        Assert.Equal(forceFullConnect ? 1 : 0, listener.DrainAcceptQueue());
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task MaxChecksInFlight_set_through_DI_caps_the_shared_engine()
    {
        using var silent = new SilentTarget();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddTcpShakerEngine(o =>
        {
            o.MaxChecksInFlight = 3;
            o.VerifyOnStart = false;
        });
        await using ServiceProvider provider = services.BuildServiceProvider();
        var shaker = provider.GetRequiredService<TcpShaker>();
        var ct = TestContext.Current.CancellationToken;

        // Held for 2 s, so they are still in flight when the fourth comes right after them.
        var held = Enumerable.Range(0, 3).Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), ct).AsTask()).ToArray();
        var fourth = await shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(300), ct);
        await Task.WhenAll(held);

        Assert.Equal(TcpCheckStatus.LocalError, fourth.Status);
        Assert.Equal(TcpCheckErrorKind.InFlightLimit, fourth.ErrorKind);
    }

    private static async Task<WebApplication> StartAppAsync(string endpoint, TimeSpan minimumInterval, TimeSpan timeout, System.Collections.Concurrent.ConcurrentQueue<long>? arrivals = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddTcpShakerEngine(o => o.VerifyOnStart = false);
        builder.Services.AddHealthChecks().AddTcpShaker("target", o =>
        {
            o.Endpoints.Add(endpoint);
            o.Timeout = timeout;
            o.MinimumInterval = minimumInterval;
        });
        WebApplication app = builder.Build();
        if (arrivals is not null)
        {
            app.Use(async (context, next) =>
            {
                arrivals.Enqueue(System.Diagnostics.Stopwatch.GetTimestamp());
                await next(context);
            });
        }

        app.MapHealthChecks("/health");
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    /// <summary><see cref="Requests"/> GET /health at once, each on a connection of its own.</summary>
    private static async Task<HttpStatusCode[]> FloodAsync(WebApplication app)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Requests }) { Timeout = TimeSpan.FromSeconds(60) };
        var url = new Uri(app.Urls.First() + "/health");
        using var start = new SemaphoreSlim(0);
        var requests = Enumerable.Range(0, Requests).Select(async _ =>
        {
            await start.WaitAsync(TestContext.Current.CancellationToken);
            using HttpResponseMessage response = await client.GetAsync(url, TestContext.Current.CancellationToken);
            return response.StatusCode;
        }).ToArray();
        start.Release(Requests);
        return await Task.WhenAll(requests);
    }
}
