using System.Diagnostics;
using System.Net;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Reliability.Tests.Monitoring;

/// <summary>A watched health check polled hard: the namespace's kernel counts every SYN, and there are only the watch's own.</summary>
[Collection(nameof(ProcessWide))]
public sealed class WatchedAmplificationTests
{
    private const int Requests = 10_000;

    [Fact]
    public async Task Ten_thousand_health_requests_add_no_SYN_to_the_watch_schedule()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        (LoopbackListener listener, IPEndPoint target) = ns.ListenCountingSyns();
        using var _ = listener;
        var ct = TestContext.Current.CancellationToken;

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddTcpShakerEngine(o => o.VerifyOnStart = false);
        builder.Services.AddHealthChecks().AddTcpShaker("target", o =>
        {
            o.Endpoints.Add(target.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(250), Rise = 1 };
        });
        await using WebApplication app = builder.Build();
        app.MapHealthChecks("/health");
        await app.StartAsync(ct);
        TcpWatch watch = Assert.Single(app.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        for (int i = 0; i < 200 && watch.Health != TcpTargetHealth.Up; i++)
        {
            await Task.Delay(10, ct);
        }

        long synsBefore = ns.IptablesPackets("INPUT", "ACCEPT");
        var started = Stopwatch.StartNew();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var url = new Uri(app.Urls.First() + "/health");
        int ok = 0;
        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (_, token) =>
        {
            using HttpResponseMessage response = await client.GetAsync(url, token);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref ok);
            }
        });
        started.Stop();
        await app.StopAsync(ct);
        long syns = ns.IptablesPackets("INPUT", "ACCEPT") - synsBefore;

        // The watch's schedule over the run: one SYN per 250 ms, plus the one in flight at either end.
        long scheduled = (long)(started.Elapsed.TotalMilliseconds / 250) + 2;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Requests} requests in {started.Elapsed.TotalMilliseconds:0} ms ({ok} OK) -> {syns} SYN(s) (schedule allows {scheduled}), {ns.Counter("TcpPassiveOpens")} passive open(s)");
        Assert.InRange(syns, 0, scheduled);
        Assert.Equal(Requests, ok);
        Assert.Equal(0, ns.Counter("TcpPassiveOpens"));
        Assert.False(listener.HasPendingConnection);
    }
}
