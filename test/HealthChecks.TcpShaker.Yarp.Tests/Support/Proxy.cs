using System.Diagnostics;
using System.Net;
using HealthChecks.TcpShaker.Yarp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests.Support;

/// <summary>A real YARP proxy on 127.0.0.1 (Kestrel, port 0) with an in-memory configuration and the half-open checks added.</summary>
internal sealed class Proxy : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Proxy(WebApplication app, FakeLogCollector logs)
    {
        _app = app;
        Logs = logs;
        Config = app.Services.GetService<InMemoryConfigProvider>()!;
        State = app.Services.GetRequiredService<IProxyStateLookup>();
        Monitor = app.Services.GetRequiredService<TcpShakerActiveHealthCheckMonitor>();
        int port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The in-memory configuration (null for a proxy started from <see cref="StartFromConfigurationAsync"/>).</summary>
    public InMemoryConfigProvider Config { get; }

    public WebApplication App => _app;

    public IProxyStateLookup State { get; }

    public TcpShakerActiveHealthCheckMonitor Monitor { get; }

    public HttpClient Client { get; }

    public FakeLogCollector Logs { get; }

    /// <summary>Starts a proxy; throws what YARP throws when the first configuration is invalid.</summary>
    public static Task<Proxy> StartAsync(IReadOnlyList<ClusterConfig> clusters) => StartAsync(clusters, before: null);

    /// <summary>Starts a proxy, <paramref name="before"/> given the builder first (to register a <see cref="TimeProvider"/>, say).</summary>
    public static Task<Proxy> StartAsync(IReadOnlyList<ClusterConfig> clusters, Action<WebApplicationBuilder>? before) =>
        StartAsync(builder =>
        {
            before?.Invoke(builder);
            builder.Services.AddReverseProxy()
                .LoadFromMemory(Routes(clusters), clusters)
                .AddTcpShakerHealthChecks();
        });

    /// <summary>
    /// Starts a proxy whose clocks are <paramref name="time"/> (YARP's schedule of HTTP probes and the rounds of the
    /// half-open integration), logging YARP's health checks at Debug (the end of each HTTP round).
    /// </summary>
    public static async Task<Proxy> StartAsync(IReadOnlyList<ClusterConfig> clusters, TimeProvider time)
    {
        Proxy proxy = await StartAsync(clusters, builder =>
        {
            builder.Services.AddSingleton(time);
            builder.Logging.AddFilter("Yarp.ReverseProxy.Health", LogLevel.Debug);
        });
        if (!ReferenceEquals(proxy.App.Services.GetRequiredService<TimeProvider>(), time))
        {
            await proxy.DisposeAsync();
            throw new InvalidOperationException("The proxy does not use the test's TimeProvider.");
        }

        return proxy;
    }

    /// <summary>How many HTTP rounds of YARP's monitor ended for the cluster (its Debug log at the end of each).</summary>
    public int HttpRoundsEnded(string clusterId) =>
        Logs.GetSnapshot().Count(r => r.Id.Name == "StoppedActiveHealthProbingOnCluster" && r.Message.Contains($"`{clusterId}`", StringComparison.Ordinal));

    /// <summary>Starts a proxy as its users write it: <c>LoadFromConfig</c> on a <c>ReverseProxy</c> section (here in memory, reloadable).</summary>
    public static Task<Proxy> StartFromConfigurationAsync(IDictionary<string, string?> settings) =>
        StartAsync(builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Services.AddReverseProxy()
                .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
                .AddTcpShakerHealthChecks();
        });

    /// <summary>Sets configuration values and signals a reload, as a changed appsettings.json does.</summary>
    public void Reconfigure(IDictionary<string, string?> settings)
    {
        foreach ((string key, string? value) in settings)
        {
            _app.Configuration[key] = value;
        }

        ((IConfigurationRoot)_app.Configuration).Reload();
    }

    private static async Task<Proxy> StartAsync(Action<WebApplicationBuilder> configure)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFakeLogging();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        configure(builder);
        WebApplication app = builder.Build();
        app.MapReverseProxy();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new Proxy(app, app.Services.GetFakeLogCollector());
    }

    /// <summary>One route per cluster: <c>/{clusterId}/{**rest}</c>.</summary>
    public static IReadOnlyList<RouteConfig> Routes(IReadOnlyList<ClusterConfig> clusters) =>
        [.. clusters.Select(c => new RouteConfig
        {
            RouteId = c.ClusterId,
            ClusterId = c.ClusterId,
            Match = new RouteMatch { Path = $"/{c.ClusterId}/{{**rest}}" },
        })];

    public void Update(IReadOnlyList<ClusterConfig> clusters) => Config.Update(Routes(clusters), clusters);

    public DestinationHealth Active(string clusterId, string destinationId) =>
        State.TryGetCluster(clusterId, out ClusterState? cluster) && cluster.Destinations.TryGetValue(destinationId, out DestinationState? destination)
            ? destination.Health.Active
            : throw new InvalidOperationException($"No destination {clusterId}/{destinationId}.");

    /// <summary>Polls (every 5 ms) until the condition holds; returns how long that took, or throws after <paramref name="limit"/>.</summary>
    public static async Task<TimeSpan> WaitUntilAsync(Func<bool> condition, TimeSpan limit, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"Not within {limit.TotalMilliseconds} ms: {what}.");
            }

            await Task.Delay(5);
        }

        return clock.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Cluster configurations for the tests.</summary>
internal static class Clusters
{
    public static ClusterConfig Shaker(string id, IEnumerable<(string Id, string Address)> destinations, TimeSpan interval, TimeSpan timeout,
        int rise = 2, int fall = 3, IReadOnlyDictionary<string, string>? metadata = null, string? availablePolicy = null) => new()
    {
        ClusterId = id,
        LoadBalancingPolicy = "RoundRobin",
        HealthCheck = new HealthCheckConfig
        {
            AvailableDestinationsPolicy = availablePolicy,
            Active = new ActiveHealthCheckConfig { Enabled = true, Interval = interval, Timeout = timeout, Policy = TcpShakerYarp.PolicyName },
        },
        Metadata = metadata ?? new Dictionary<string, string>
        {
            [TcpShakerYarp.RiseKey] = rise.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [TcpShakerYarp.FallKey] = fall.ToString(System.Globalization.CultureInfo.InvariantCulture),
        },
        Destinations = destinations.ToDictionary(d => d.Id, d => new DestinationConfig { Address = d.Address }),
    };

    /// <summary>YARP's own HTTP active check (ConsecutiveFailures on <c>/health</c>), the control.</summary>
    /// <param name="id">The cluster id.</param>
    /// <param name="destinations">Its destinations.</param>
    /// <param name="interval">Between YARP's probes.</param>
    /// <param name="threshold">Failed probes in a row that make a destination unhealthy (YARP's default: 2).</param>
    /// <param name="timeout">A probe's limit (1 s unless set).</param>
    public static ClusterConfig Http(string id, IEnumerable<(string Id, string Address)> destinations, TimeSpan interval, int? threshold = null, TimeSpan? timeout = null) => new()
    {
        ClusterId = id,
        HealthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig { Enabled = true, Interval = interval, Timeout = timeout ?? TimeSpan.FromSeconds(1), Policy = "ConsecutiveFailures", Path = "/health" },
        },
        Metadata = threshold is { } t
            ? new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = t.ToString(System.Globalization.CultureInfo.InvariantCulture) }
            : null,
        Destinations = destinations.ToDictionary(d => d.Id, d => new DestinationConfig { Address = d.Address }),
    };
}
