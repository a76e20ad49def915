using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// The sample hosted in memory (TestServer has no real port), its TCP checks pointed at real loopback
/// sockets this test opens: a listener that never accepts (healthy) and a bound, closed port (refused).
/// </summary>
public sealed class SampleHostTests : IDisposable
{
    private readonly LoopbackListener _listener = new();
    private readonly ClosedPort _closed = new();
    private readonly WebApplicationFactory<Program> _factory;

    public SampleHostTests()
    {
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web
            // Settings, not ConfigureAppConfiguration: Program reads them while registering the checks.
            .UseSetting("HealthChecks:SelfHttp:Endpoints:0", Endpoint(_listener.EndPoint))
            .UseSetting("HealthChecks:Dependencies:Endpoints:0", Endpoint(_closed.EndPoint))
            // The detail is for callers on this machine; TestServer's requests have no address.
            .ConfigureServices(services => services.AddSingleton<IStartupFilter, LoopbackCaller>()));
    }

    private static string ExpectedMode => SampleMode.Expected;

    private static string Endpoint(IPEndPoint endPoint) => endPoint.ToString();

    [Fact]
    public async Task Livez_is_healthy_and_checks_no_dependency()
    {
        using HttpClient client = _factory.CreateClient();

        using HttpResponseMessage response = await client.GetAsync("/livez", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
        Assert.Equal("Healthy", health.Status);
        Assert.Equal(["self"], health.EntryNames);
    }

    [Theory]
    [InlineData("/readyz", new[] { "self-http", "dependencies" })]
    [InlineData("/health", new[] { "self", "self-http", "dependencies", "watched" })]
    public async Task Readyz_and_health_report_the_open_and_the_refused_target_with_the_library_data(string path, string[] entries)
    {
        using HttpClient client = _factory.CreateClient();

        using HttpResponseMessage response = await client.GetAsync(path, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
        Assert.Equal("Unhealthy", health.Status);
        Assert.Equal(entries.Order(), health.EntryNames.Order());

        Assert.Equal("Healthy", health.EntryStatus("self-http"));
        Assert.Equal(ExpectedMode, health.Entry("self-http").GetProperty("data").GetProperty("mode").GetString());
        var open = health.EndpointReport("self-http", Endpoint(_listener.EndPoint));
        Assert.Equal("Open", open.GetProperty("status").GetString());
        Assert.Equal(ExpectedMode, open.GetProperty("mode").GetString());
        Assert.Equal(0, open.GetProperty("errorCode").GetInt32());
        Assert.True(open.GetProperty("handshakeMilliseconds").GetDouble() > 0);

        Assert.Equal("Unhealthy", health.EntryStatus("dependencies"));
        Assert.Contains("refused", health.Entry("dependencies").GetProperty("description").GetString(), StringComparison.Ordinal);
        var refused = health.EndpointReport("dependencies", Endpoint(_closed.EndPoint));
        Assert.Equal("Refused", refused.GetProperty("status").GetString());
        Assert.NotEqual(0, refused.GetProperty("errorCode").GetInt32());

        if (OperatingSystem.IsLinux())
        {
            // Raw SYN or half-open: the kernel never completed a connection for the listener's application.
            Assert.False(_listener.HasPendingConnection, "the check left a connection in the listener's accept queue");
            Assert.Equal(0, _listener.DrainAcceptQueue());
        }
    }

    [Fact]
    public async Task Forced_full_connects_reach_the_listeners_accept_queue_so_the_half_open_assertion_can_fail()
    {
        using WebApplicationFactory<Program> fullConnect = _factory.WithWebHostBuilder(web => web.UseSetting("HealthChecks:Engine:ForceFullConnect", "true"));
        using HttpClient client = fullConnect.CreateClient();

        using HttpResponseMessage response = await client.GetAsync("/readyz", TestContext.Current.CancellationToken);

        HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
        Assert.Equal("FullConnect", health.EndpointReport("self-http", Endpoint(_listener.EndPoint)).GetProperty("mode").GetString());
        Assert.Equal("Healthy", health.EntryStatus("self-http"));
        // The kernel completed the handshake: the connection waits in the accept queue (then was reset by the checker).
        Assert.Equal(1, _listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Metrics_expose_tcpshaker_series_after_a_health_call()
    {
        using HttpClient client = _factory.CreateClient();
        using (await client.GetAsync("/health", TestContext.Current.CancellationToken))
        {
        }

        string metrics = await client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);

        string port = _listener.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("# TYPE tcpshaker_checks_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE tcpshaker_check_duration_seconds histogram", metrics, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_checks_in_flight", metrics, StringComparison.Ordinal);
        Assert.Contains(
            metrics.Split('\n'),
            line => line.StartsWith("tcpshaker_checks_total{", StringComparison.Ordinal)
                && line.Contains($"server_port=\"{port}\"", StringComparison.Ordinal)
                && line.Contains("tcpshaker_status=\"open\"", StringComparison.Ordinal));
        Assert.Contains(
            metrics.Split('\n'),
            line => line.StartsWith("tcpshaker_checks_total{", StringComparison.Ordinal)
                && line.Contains($"server_port=\"{_closed.EndPoint.Port}\"", StringComparison.Ordinal)
                && line.Contains("tcpshaker_status=\"refused\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_watched_registration_answers_from_its_watches_bound_from_configuration()
    {
        using WebApplicationFactory<Program> watched = _factory.WithWebHostBuilder(web => web
            .UseSetting("HealthChecks:Watched:Endpoints:0", Endpoint(_listener.EndPoint))
            .UseSetting("HealthChecks:Watched:Endpoints:1", Endpoint(_closed.EndPoint))
            .UseSetting("HealthChecks:Watched:Watch:Interval", "00:00:00.05"));
        using HttpClient client = watched.CreateClient();

        // The first result decides, then 3 failures in a row at 50 ms: within a second or so; bounded at 15 s.
        HealthJson health = await PollAsync(client, h => WatchHealth(h, _listener.EndPoint) == "Up" && WatchHealth(h, _closed.EndPoint) == "Down"
            && h.Entry("watched").GetProperty("data").GetProperty(Endpoint(_closed.EndPoint)).GetProperty("consecutiveFailures").GetInt32() >= 3);

        Assert.Equal("Unhealthy", health.EntryStatus("watched"));
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(Endpoint(_closed.EndPoint))} is down since \d\d:\d\d:\d\dZ: \d+ refusals in a row$", health.Entry("watched").GetProperty("description").GetString());
        System.Text.Json.JsonElement up = health.Entry("watched").GetProperty("data").GetProperty(Endpoint(_listener.EndPoint));
        System.Text.Json.JsonElement down = health.Entry("watched").GetProperty("data").GetProperty(Endpoint(_closed.EndPoint));
        Assert.All(up.GetProperty("recent").EnumerateArray(), r => Assert.Equal("Open", r.GetProperty("status").GetString()));
        Assert.All(down.GetProperty("recent").EnumerateArray(), r => Assert.Equal("Refused", r.GetProperty("status").GetString()));
        Assert.True(down.GetProperty("consecutiveFailures").GetInt32() >= 3);
        Assert.Equal("Open", up.GetProperty("lastResult").GetProperty("status").GetString());
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(0, _listener.DrainAcceptQueue());
        }
    }

    [Fact]
    public async Task The_watched_registration_reports_its_UnknownStatus_until_a_watch_has_a_verdict()
    {
        // A silent target and a 30 s timeout: the watch's first check (which decides) is in flight far beyond this test.
        using var silent = new SilentTarget();
        using WebApplicationFactory<Program> watched = _factory.WithWebHostBuilder(web => web
            .UseSetting("HealthChecks:Watched:Endpoints:0", Endpoint(silent.EndPoint))
            .UseSetting("HealthChecks:Watched:Watch:Interval", "00:00:00.05")
            .UseSetting("HealthChecks:Watched:Watch:Timeout", "00:00:30"));
        using HttpClient client = watched.CreateClient();

        HealthJson health = await PollAsync(client, h => h.Entry("watched").TryGetProperty("data", out System.Text.Json.JsonElement data)
            && data.TryGetProperty(Endpoint(silent.EndPoint), out _));

        Assert.Equal("Degraded", health.EntryStatus("watched"));
        Assert.Equal("Unknown", WatchHealth(health, silent.EndPoint));
        Assert.EndsWith("has no verdict yet: not checked yet", health.Entry("watched").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    private static string? WatchHealth(HealthJson health, IPEndPoint endPoint) =>
        health.Entry("watched").TryGetProperty("data", out System.Text.Json.JsonElement data) && data.TryGetProperty(Endpoint(endPoint), out System.Text.Json.JsonElement watch)
            ? watch.GetProperty("health").GetString()
            : null;

    private static async Task<HealthJson> PollAsync(HttpClient client, Func<HealthJson, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using HttpResponseMessage response = await client.GetAsync("/health", TestContext.Current.CancellationToken);
            HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
            if (done(health))
            {
                return health;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"no expected state within 15 s: {health.Root}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task The_dashboard_is_served_as_static_files()
    {
        using HttpClient client = _factory.CreateClient();

        string html = await client.GetStringAsync("/", TestContext.Current.CancellationToken);
        string script = await client.GetStringAsync("/dashboard.js", TestContext.Current.CancellationToken);

        Assert.Contains("<title>TCP health</title>", html, StringComparison.Ordinal);
        Assert.Contains("/health", script, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _factory.Dispose();
        _listener.Dispose();
        _closed.Dispose();
    }
}
