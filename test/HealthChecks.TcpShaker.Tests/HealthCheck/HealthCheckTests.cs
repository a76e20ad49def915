using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Tests.HealthCheck;

/// <summary>The health-check registration in real hosts, against real loopback listeners.</summary>
public sealed class HealthCheckTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_open_and_a_closed_endpoint_report_healthy_and_unhealthy_with_their_data()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using IHost host = await StartHostAsync(checks => checks
            .AddTcpShaker("up", listener.EndPoint.ToString(), tags: ["ready"])
            .AddTcpShaker("down", closed.EndPoint.ToString()));

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        HealthReportEntry up = report.Entries["up"];
        Assert.Equal(HealthStatus.Healthy, up.Status);
        Assert.StartsWith("All 1 endpoint(s) are open", up.Description, StringComparison.Ordinal);
        TcpEndpointReport upReport = Assert.Single(Assert.IsType<TcpEndpointReport[]>(up.Data[listener.EndPoint.ToString()]));
        Assert.Equal(listener.EndPoint.ToString(), upReport.Address);
        Assert.Equal("Open", upReport.Status);
        Assert.Equal("HalfOpen", upReport.Mode);
        Assert.Equal("HalfOpen", up.Data["mode"]);
        Assert.Contains("ready", up.Tags);

        HealthReportEntry down = report.Entries["down"];
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.Equal($"{closed.EndPoint} refused the connection", down.Description);
        TcpEndpointReport downReport = Assert.Single(Assert.IsType<TcpEndpointReport[]>(down.Data[closed.EndPoint.ToString()]));
        Assert.Equal(111, downReport.ErrorCode);
        Assert.Equal("OperatingSystem", downReport.ErrorKind);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Many_registrations_share_one_engine_and_one_hosted_service()
    {
        using var a = new LoopbackListener();
        using var b = new LoopbackListener();
        using var c = new LoopbackListener();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks()
            .AddTcpShaker("a", a.EndPoint.ToString())
            .AddTcpShaker("b", b.EndPoint.ToString())
            .AddTcpShaker("c", o => o.Endpoints.Add(c.EndPoint.ToString()));

        Assert.Single(services, d => d.ServiceType == typeof(TcpShaker));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "EngineLifetimeService");
        await using ServiceProvider provider = services.BuildServiceProvider();
        TcpShaker shared = provider.GetRequiredService<TcpShaker>();
        HealthCheckService health = provider.GetRequiredService<HealthCheckService>();

        Assert.Null(shared.Engine);
        HealthReport before = await health.CheckHealthAsync(Ct);
        Assert.All(before.Entries.Values, e => Assert.Equal(HealthStatus.Healthy, e.Status));
        Assert.NotNull(shared.Engine); // the checks started the container's engine, not one of their own

        // Every registration checks through that one engine: once it is disposed, all three fail with it.
        await shared.DisposeAsync();
        HealthReport after = await health.CheckHealthAsync(Ct);

        Assert.Equal(["a", "b", "c"], after.Entries.Keys.Order());
        Assert.All(after.Entries.Values, e =>
        {
            Assert.Equal(HealthStatus.Unhealthy, e.Status);
            Assert.IsType<ObjectDisposedException>(e.Exception);
        });
    }

    [Theory]
    [InlineData("")]
    [InlineData("db")]
    [InlineData("db:0")]
    [InlineData("db:99999")]
    [InlineData("::1:5432")]
    [InlineData("db :5432")]
    public void A_bad_endpoint_throws_at_registration_naming_it(string endpoint)
    {
        var checks = new ServiceCollection().AddHealthChecks();

        var exception = Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("db", endpoint));

        Assert.Contains($"'{endpoint}'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_throw_at_registration()
    {
        var checks = new ServiceCollection().AddHealthChecks();

        Assert.Contains("no endpoint", Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("x", _ => { })).Message, StringComparison.Ordinal);
        Assert.Contains("Timeout", Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("x", o =>
        {
            o.Endpoints.Add("127.0.0.1:1");
            o.Timeout = TimeSpan.Zero;
        })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_check_before_the_host_starts_still_completes()
    {
        using var listener = new LoopbackListener();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddTcpShaker("up", listener.EndPoint.ToString());
        await using ServiceProvider provider = services.BuildServiceProvider();

        HealthReport report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal(HealthStatus.Healthy, report.Status);
    }

    [Fact]
    public async Task Options_bind_from_configuration()
    {
        using var listener = new LoopbackListener();
        using var second = new LoopbackListener();
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Checks:Db:Endpoints:0"] = listener.EndPoint.ToString(),
            ["Checks:Db:Endpoints:1"] = $"localhost:{second.Port}",
            ["Checks:Db:Timeout"] = "00:00:01",
            ["Checks:Db:AddressFamily"] = "InterNetwork",
            ["Checks:Db:RequireAllAddresses"] = "true",
        }).Build();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("db", configuration.GetSection("Checks:Db")));

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        HealthReportEntry entry = report.Entries["db"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.StartsWith("All 2 endpoint(s) are open", entry.Description, StringComparison.Ordinal);
        Assert.True(entry.Data.ContainsKey($"localhost:{second.Port}"));
    }

    [Fact]
    public void Bad_configuration_throws_at_registration()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Db:Endpoints:0"] = "db.internal:http",
        }).Build();
        var checks = new ServiceCollection().AddHealthChecks();

        var exception = Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("db", configuration.GetSection("Db")));

        Assert.Contains("'db.internal:http'", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Timeout", "-00:00:01", "HealthChecks:Queue:Timeout -00:00:01")]
    [InlineData("DegradedThreshold", "00:00:00", "HealthChecks:Queue:DegradedThreshold 00:00:00")]
    [InlineData("MinimumInterval", "02:00:00", "HealthChecks:Queue:MinimumInterval 02:00:00")]
    [InlineData("AddressFamily", "Unix", "HealthChecks:Queue:AddressFamily Unix")]
    [InlineData("Endpoints:1", "mq.internal", "configuration key HealthChecks:Queue:Endpoints:1")]
    public void A_bad_configured_setting_is_named_by_its_configuration_key(string key, string value, string named)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HealthChecks:Queue:Endpoints:0"] = "mq.internal:5672",
            [$"HealthChecks:Queue:{key}"] = value,
        }).Build();
        var checks = new ServiceCollection().AddHealthChecks();

        var exception = Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("queue", configuration.GetSection("HealthChecks:Queue")));

        Assert.Contains("'queue'", exception.Message, StringComparison.Ordinal);
        Assert.Contains(named, exception.Message, StringComparison.Ordinal);
        // No "(Parameter 'name')": the check's name is not what is wrong, the configured value is.
        Assert.Null(exception.ParamName);
        Assert.DoesNotContain("(Parameter", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_configuration_section_is_named()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HealthChecks:Qeueu:Endpoints:0"] = "mq.internal:5672",
        }).Build();
        var checks = new ServiceCollection().AddHealthChecks();

        var exception = Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("queue", configuration.GetSection("HealthChecks:Queue")));

        Assert.Contains("'queue' has no endpoint", exception.Message, StringComparison.Ordinal);
        Assert.Contains("section 'HealthChecks:Queue' is missing or empty", exception.Message, StringComparison.Ordinal);
        Assert.Contains("HealthChecks:Queue:Endpoints", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_configured_setting_that_cannot_be_read_is_named_by_its_key()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HealthChecks:Queue:Endpoints:0"] = "mq.internal:5672",
            ["HealthChecks:Queue:Timeout"] = "1s",
        }).Build();
        var checks = new ServiceCollection().AddHealthChecks();

        var exception = Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("queue", configuration.GetSection("HealthChecks:Queue")));

        Assert.Contains("'queue'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("HealthChecks:Queue:Timeout", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_setting_in_code_names_the_parameter_it_came_from()
    {
        var checks = new ServiceCollection().AddHealthChecks();

        Assert.Equal("configure", Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("x", o => o.Timeout = TimeSpan.Zero)).ParamName);
        Assert.Equal("endpoint", Assert.Throws<ArgumentException>(() => checks.AddTcpShaker("x", "db.internal")).ParamName);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_silent_endpoint_times_out_at_the_check_timeout_and_says_which()
    {
        // The check's own 400 ms inside a registration timeout of 5 s, so the check, not the
        // service, answers even on a busy machine.
        using var silent = new SilentTarget();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("slow", o =>
        {
            o.Endpoints.Add(silent.EndPoint.ToString());
            o.Timeout = TimeSpan.FromMilliseconds(400);
        }, timeout: TimeSpan.FromSeconds(5)));

        var started = System.Diagnostics.Stopwatch.StartNew();
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        HealthReportEntry entry = report.Entries["slow"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.StartsWith($"{silent.EndPoint} did not answer within", entry.Description, StringComparison.Ordinal);
        // The check's 400 ms, not the registration's 5 s: 2 s leaves 1.6 s for a busy machine.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed.TotalMilliseconds:0} ms");
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task With_only_a_registration_timeout_the_check_answers_inside_it_and_says_which()
    {
        // The check gives itself the registration's 1 s less a quarter, at most 250 ms: 750 ms, so its
        // own answer beats the service's generic "A timeout occurred" by 250 ms, many time slices
        // even on a busy machine.
        using var silent = new SilentTarget();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("slow", silent.EndPoint.ToString(), timeout: TimeSpan.FromSeconds(1)));

        HealthReportEntry entry = (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Entries["slow"];

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        // Its own deadline is 750 ms from the run's start (the SYN's own time a little less); a busy machine reports it some ms late, never at the registration's 1 s.
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(silent.EndPoint.ToString())} did not answer within (7\d\d|8\d\d|9\d\d)(\.\d+)? ms", entry.Description);
    }

    [Fact]
    public async Task The_failure_status_and_the_degraded_threshold_are_honoured()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using IHost host = await StartHostAsync(checks => checks
            .AddTcpShaker("optional", closed.EndPoint.ToString(), failureStatus: HealthStatus.Degraded)
            .AddTcpShaker("slowish", o =>
            {
                o.Endpoints.Add(listener.EndPoint.ToString());
                o.DegradedThreshold = TimeSpan.FromTicks(1);
            }));

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal(HealthStatus.Degraded, report.Entries["optional"].Status);
        Assert.Equal(HealthStatus.Degraded, report.Entries["slowish"].Status);
        Assert.Contains("slowest handshake took", report.Entries["slowish"].Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_endpoints_name_only_the_ones_that_failed()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using IHost host = await StartHostAsync(checks => checks.AddTcpShaker("pair", o =>
        {
            o.Endpoints.Add(listener.EndPoint.ToString());
            o.Endpoints.Add(closed.EndPoint.ToString());
        }));

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal($"{closed.EndPoint} refused the connection", report.Entries["pair"].Description);
    }

    [Fact]
    public async Task Stopping_the_host_stops_the_engine()
    {
        using var listener = new LoopbackListener();
        IHost host = await StartHostAsync(checks => checks.AddTcpShaker("up", listener.EndPoint.ToString()));
        TcpShaker shaker = host.Services.GetRequiredService<TcpShaker>();
        Assert.NotNull(shaker.Engine);

        await host.StopAsync(Ct);

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(1), Ct));
        host.Dispose();
    }

    [Fact]
    public async Task Engine_options_come_from_dependency_injection()
    {
        using var listener = new LoopbackListener();
        using IHost host = await StartHostAsync(
            checks => checks.AddTcpShaker("up", listener.EndPoint.ToString()),
            services => services.AddTcpShakerEngine(o => o.ForceFullConnect = true));

        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Equal("FullConnect", report.Entries["up"].Data["mode"]);
        Assert.Equal(1, listener.DrainAcceptQueue());
    }

    private static async Task<IHost> StartHostAsync(Action<IHealthChecksBuilder> configure, Action<IServiceCollection>? services = null)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        services?.Invoke(builder.Services);
        configure(builder.Services.AddHealthChecks());
        IHost host = builder.Build();
        await host.StartAsync(Ct);
        return host;
    }
}
