using System.Diagnostics;
using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Tests.Monitoring;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Tests.HealthCheck;

/// <summary>A health check with <see cref="TcpShakerCheckOptions.Watch"/>: watched from host start, answered from state.</summary>
[Trait("Category", "Timing")]
public sealed class WatchedHealthCheckTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ten_thousand_runs_cost_no_probe_beyond_the_watch_schedule()
    {
        var listener = new LoopbackListener();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1, Fall = 1 };
        }));
        var service = host.Services.GetRequiredService<HealthCheckService>();
        TcpWatch watch = Assert.Single(host.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => watch.Health == TcpTargetHealth.Up, TimeSpan.FromSeconds(5));

        long checksBefore = watch.Checks;
        var stopwatch = Stopwatch.StartNew();
        HealthReport last = null!;
        for (int i = 0; i < 10_000; i++)
        {
            last = await service.CheckHealthAsync(Ct);
        }

        stopwatch.Stop();
        long checks = watch.Checks - checksBefore;

        // The watch's own schedule: one check per 100 ms while the runs went on, give or take the round in flight.
        long scheduled = (long)(stopwatch.Elapsed.TotalMilliseconds / 100);
        TestContext.Current.TestOutputHelper?.WriteLine($"10,000 runs in {stopwatch.Elapsed.TotalMilliseconds:0} ms: {checks} checks (schedule: {scheduled})");
        Assert.InRange(checks, 0, scheduled + 2);
        Assert.Equal(HealthStatus.Healthy, last.Entries["db"].Status);
        Assert.StartsWith("All 1 endpoint(s) are up", last.Entries["db"].Description, StringComparison.Ordinal);
        TcpWatchReport report = Assert.IsType<TcpWatchReport>(last.Entries["db"].Data[listener.EndPoint.ToString()]);
        Assert.Equal("Up", report.Health);
        Assert.NotEmpty(report.Recent);
        Assert.Equal(0, listener.DrainAcceptQueue());
        Assert.Null(host.Services.GetService<HealthChecks.TcpShaker.HealthCheck.TcpProbeCoordinator>()); // nothing probes on demand

        listener.Dispose();
        await MonitorTests.WaitUntil(() => watch.Health == TcpTargetHealth.Down, TimeSpan.FromSeconds(5));
        HealthReportEntry down = (await service.CheckHealthAsync(Ct)).Entries["db"];
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.Matches($@"^{listener.EndPoint.ToString().Replace(".", @"\.", StringComparison.Ordinal)} is down since \d\d:\d\d:\d\dZ: 1 refusal$", down.Description);
        await host.StopAsync(Ct);
    }

    [Theory]
    [InlineData(null, HealthStatus.Unhealthy)]
    [InlineData(HealthStatus.Healthy, HealthStatus.Healthy)]
    public async Task Before_the_first_verdict_the_check_reports_the_unknown_status(HealthStatus? unknownStatus, HealthStatus expected)
    {
        using var listener = new LoopbackListener();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromHours(1) }; // the first check is somewhere in the next hour
            o.UnknownStatus = unknownStatus;
        }));

        HealthReportEntry entry = (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Entries["db"];

        Assert.Equal(expected, entry.Status);
        Assert.Equal($"{listener.EndPoint} has no verdict yet: not checked yet", entry.Description);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Watch_settings_bind_from_configuration_and_bad_ones_are_refused_at_registration()
    {
        using var listener = new LoopbackListener();
        IConfiguration good = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Db:Endpoints:0"] = listener.EndPoint.ToString(),
            ["Db:Watch:Interval"] = "00:00:00.050",
            ["Db:Watch:Rise"] = "1",
            ["Db:Watch:FastInterval"] = "00:00:00.020",
        }).Build();
        IConfiguration bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Db:Endpoints:0"] = "db:5432",
            ["Db:Watch:Rise"] = "0",
        }).Build();

        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", good.GetSection("Db")));
        TcpWatch watch = Assert.Single(host.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => watch.Health == TcpTargetHealth.Up, TimeSpan.FromSeconds(5));
        var exception = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddHealthChecks().AddTcpShaker("bad", bad.GetSection("Db")));

        Assert.Contains("'bad' has an invalid Watch (configuration section Db:Watch): Rise is 0", exception.Message, StringComparison.Ordinal);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Stopping_the_host_stops_the_watches_before_the_engine()
    {
        using var listener = new LoopbackListener();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(20), Rise = 1 };
        }));
        TcpWatch watch = Assert.Single(host.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => watch.Checks > 2, TimeSpan.FromSeconds(5));

        await host.StopAsync(Ct);
        long checks = watch.Checks;
        await Task.Delay(150, Ct);

        Assert.True(watch.IsDisposed);
        Assert.Equal(checks, watch.Checks);
    }

    [Fact]
    public async Task A_watch_whose_checks_stopped_reports_failure_naming_why_whatever_the_unknown_status()
    {
        using var listener = new LoopbackListener();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1, Fall = 1 };
            o.UnknownStatus = HealthStatus.Healthy; // "not checked yet" may pass; "can no longer check" never does
        }));
        var service = host.Services.GetRequiredService<HealthCheckService>();
        TcpWatch watch = Assert.Single(host.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => watch.Health == TcpTargetHealth.Up, TimeSpan.FromSeconds(5));

        await host.Services.GetRequiredService<TcpShaker>().DisposeAsync(); // the engine goes away under the watch
        await MonitorTests.WaitUntil(() => watch.Health == TcpTargetHealth.Unknown, TimeSpan.FromSeconds(5));

        HealthReportEntry entry = (await service.CheckHealthAsync(Ct)).Entries["db"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal($"{listener.EndPoint} has no verdict: engine stopped", entry.Description);
        TcpWatchReport report = Assert.IsType<TcpWatchReport>(entry.Data[listener.EndPoint.ToString()]);
        Assert.Equal(("Unknown", "engine stopped"), (report.Health, report.UnknownReason));
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Two_containers_built_from_one_collection_each_watch_for_themselves()
    {
        using var listener = new LoopbackListener();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddTcpShaker("db", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(100), Rise = 1 };
        });

        TcpWatch firstWatch;
        await using (ServiceProvider first = services.BuildServiceProvider())
        {
            await StartAllAsync(first);
            firstWatch = Assert.Single(first.GetRequiredService<TcpShakerMonitor>().Watches);
            await StopAllAsync(first);
        }

        await using ServiceProvider second = services.BuildServiceProvider();
        var secondService = second.GetRequiredService<HealthCheckService>();
        Assert.Contains("has not started watching yet", (await secondService.CheckHealthAsync(Ct)).Entries["db"].Description, StringComparison.Ordinal);
        await StartAllAsync(second);
        TcpWatch secondWatch = Assert.Single(second.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => secondWatch.Health == TcpTargetHealth.Up, TimeSpan.FromSeconds(5));

        Assert.True(firstWatch.IsDisposed);
        Assert.NotSame(firstWatch, secondWatch);
        Assert.Equal(HealthStatus.Healthy, (await secondService.CheckHealthAsync(Ct)).Entries["db"].Status);
        await StopAllAsync(second);
    }

    [Fact]
    public async Task Watches_start_once_the_host_has_started_so_an_app_never_sees_its_own_port_closed()
    {
        // A "server" that starts listening in its own StartAsync, 300 ms in, after the watch service's StartAsync:
        // as Kestrel does in a web app that watches its own port. Checked every 20 ms from the watch service's
        // start, the port would be refused some 15 times, and (the first result deciding) the app down.
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var server = new SlowStartingServer(port, TimeSpan.FromMilliseconds(300));
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHealthChecks().AddTcpShaker("self", o =>
        {
            o.Endpoints.Add($"127.0.0.1:{port}");
            o.Watch = new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(20), Rise = 1, Fall = 1 };
        });
        builder.Services.AddHostedService(_ => server);
        using IHost host = builder.Build();
        await host.StartAsync(Ct);

        TcpWatch watch = Assert.Single(host.Services.GetRequiredService<TcpShakerMonitor>().Watches);
        await MonitorTests.WaitUntil(() => watch.Checks >= 5, TimeSpan.FromSeconds(5));
        Assert.All(watch.RecentResults, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        TcpHealthChange change = Assert.Single(watch.RecentChanges);
        Assert.Equal((TcpTargetHealth.Unknown, TcpTargetHealth.Up), (change.Previous, change.Current));
        await host.StopAsync(Ct);
    }

    /// <summary>Listens on its port only after a delay in its own start, as a web server does after the other hosted services.</summary>
    private sealed class SlowStartingServer(int port, TimeSpan delay) : IHostedService, IDisposable
    {
        private System.Net.Sockets.TcpListener? _listener;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            _listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            _listener.Start();
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            _listener?.Stop();
            return Task.CompletedTask;
        }

        public void Dispose() => _listener?.Dispose();
    }

    private static async Task StartAllAsync(IServiceProvider services)
    {
        foreach (IHostedService hosted in services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(Ct);
        }
    }

    private static async Task StopAllAsync(IServiceProvider services)
    {
        foreach (IHostedService hosted in services.GetServices<IHostedService>().Reverse())
        {
            await hosted.StopAsync(Ct);
        }
    }

    private static async Task<IHost> StartHostAsync(Action<IHealthChecksBuilder> configure)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        configure(builder.Services.AddHealthChecks());
        IHost host = builder.Build();
        await host.StartAsync(Ct);
        return host;
    }
}
