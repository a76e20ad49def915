using System.Diagnostics;
using System.Globalization;
using System.Net;
using HealthChecks.TcpShaker.Yarp;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

// One run of the comparison in docs/yarp.md: a YARP proxy with one cluster of N Kestrel backends on 127.0.0.1,
// no client traffic, its active health checks either YARP's own (HTTP GET /health) or TcpShaker's (half-open).
// It counts what the backends see (accepted connections, requests), samples the TIME_WAIT sockets towards or from
// the backends' ports every 250 ms, stops one backend at half time and starts it again at three quarters, and
// prints one JSON line.
//
//   dotnet run -c Release --project test/HealthChecks.TcpShaker.Yarp.Comparison -- <http|tcpshaker> [destinations] [interval s] [duration s] [backend keep-alive s]
string mode = args.ElementAtOrDefault(0) ?? "tcpshaker";
int count = int.Parse(args.ElementAtOrDefault(1) ?? "50", CultureInfo.InvariantCulture);
TimeSpan interval = TimeSpan.FromSeconds(double.Parse(args.ElementAtOrDefault(2) ?? "1", CultureInfo.InvariantCulture));
TimeSpan duration = TimeSpan.FromSeconds(double.Parse(args.ElementAtOrDefault(3) ?? "60", CultureInfo.InvariantCulture));
double? keepAlive = args.ElementAtOrDefault(4) is { } k ? double.Parse(k, CultureInfo.InvariantCulture) : null;
if (mode is not ("http" or "tcpshaker"))
{
    Console.Error.WriteLine("mode: http or tcpshaker");
    return 2;
}

var backends = new List<CountingBackend>();
for (int i = 0; i < count; i++)
{
    backends.Add(await CountingBackend.StartAsync(0, keepAlive));
}

var ports = backends.Select(b => b.Port).ToHashSet();
var destinations = backends.Select((b, i) => (Id: $"d{i}", b.Address)).ToDictionary(d => d.Id, d => new DestinationConfig { Address = d.Address });
var cluster = new ClusterConfig
{
    ClusterId = "c",
    HealthCheck = new HealthCheckConfig
    {
        Active = mode == "http"
            ? new ActiveHealthCheckConfig { Enabled = true, Interval = interval, Timeout = TimeSpan.FromSeconds(1), Policy = "ConsecutiveFailures", Path = "/health" }
            : new ActiveHealthCheckConfig { Enabled = true, Interval = interval, Timeout = TimeSpan.FromSeconds(1), Policy = TcpShakerYarp.PolicyName },
    },
    Destinations = destinations,
};

WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
IReverseProxyBuilder proxy = builder.Services.AddReverseProxy().LoadFromMemory([], [cluster]);
if (mode == "tcpshaker")
{
    proxy.AddTcpShakerHealthChecks();
}

WebApplication app = builder.Build();
app.MapReverseProxy();
await app.StartAsync();
IProxyStateLookup state = app.Services.GetRequiredService<IProxyStateLookup>();
state.TryGetCluster("c", out ClusterState? clusterState);
DestinationState victim = clusterState!.Destinations["d0"];

// Let every destination get its first verdict before counting.
var warmUp = Stopwatch.StartNew();
while (clusterState.Destinations.Values.Any(d => d.Health.Active != DestinationHealth.Healthy) && warmUp.Elapsed < TimeSpan.FromSeconds(30))
{
    await Task.Delay(10);
}

long connections0 = backends.Sum(b => b.Connections), requests0 = backends.Sum(b => b.Requests);
var clock = Stopwatch.StartNew();
var timeWait = new List<(int Proxy, int Backends)>();
double? toDown = null, toUp = null;
TimeSpan stopAt = duration / 2, startAt = duration * 3 / 4;
TimeSpan stoppedAt = TimeSpan.Zero, startedAt = TimeSpan.Zero;
bool stopped = false, started = false;
var nextSample = TimeSpan.Zero;
while (clock.Elapsed < duration)
{
    if (!stopped && clock.Elapsed >= stopAt)
    {
        await backends[0].StopAsync();
        stoppedAt = clock.Elapsed;
        stopped = true;
    }

    if (stopped && toDown is null && victim.Health.Active == DestinationHealth.Unhealthy)
    {
        toDown = (clock.Elapsed - stoppedAt).TotalMilliseconds;
    }

    if (!started && clock.Elapsed >= startAt)
    {
        await backends[0].RestartAsync();
        startedAt = clock.Elapsed;
        started = true;
    }

    if (started && toUp is null && victim.Health.Active == DestinationHealth.Healthy)
    {
        toUp = (clock.Elapsed - startedAt).TotalMilliseconds;
    }

    if (clock.Elapsed >= nextSample)
    {
        timeWait.Add(TimeWaitTo(ports));
        nextSample += TimeSpan.FromMilliseconds(250);
    }

    await Task.Delay(5);
}

double minutes = clock.Elapsed.TotalMinutes;
long checks = mode == "tcpshaker"
    ? app.Services.GetRequiredService<TcpShakerActiveHealthCheckMonitor>().Monitor.Watches.Sum(w => w.Checks)
    : backends.Sum(b => b.Requests) - requests0;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{{\"mode\":\"{mode}\",\"destinations\":{count},\"interval_s\":{interval.TotalSeconds},\"duration_s\":{clock.Elapsed.TotalSeconds:F1},\"backend_keepalive_s\":{(keepAlive is { } ka ? ka.ToString(CultureInfo.InvariantCulture) : "null")}," +
    $"\"backend_requests_per_min\":{(backends.Sum(b => b.Requests) - requests0) / minutes:F0},\"backend_connections_per_min\":{(backends.Sum(b => b.Connections) - connections0) / minutes:F0}," +
    $"\"time_wait_proxy_mean\":{timeWait.Average(t => t.Proxy):F1},\"time_wait_proxy_max\":{timeWait.Max(t => t.Proxy)}," +
    $"\"time_wait_backends_mean\":{timeWait.Average(t => t.Backends):F1},\"time_wait_backends_max\":{timeWait.Max(t => t.Backends)}," +
    $"\"checks_per_min\":{checks / minutes:F0},\"time_to_down_ms\":{Json(toDown)},\"time_to_up_ms\":{Json(toUp)}}}"));

await app.StopAsync();
foreach (CountingBackend backend in backends)
{
    await backend.StopAsync();
}

return 0;

static string Json(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "null";

// TIME_WAIT sockets of this namespace with a backend port at either end (/proc/net/tcp, state 06), so that the
// machine's other traffic is not counted; split by whose socket it is (the end that closed first keeps it).
static (int Proxy, int Backends) TimeWaitTo(HashSet<int> ports)
{
    int proxy = 0, backends = 0;
    foreach (string table in (string[])["/proc/net/tcp", "/proc/net/tcp6"])
    {
        foreach (string line in File.ReadLines(table).Skip(1))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 3 && f[3] == "06")
            {
                // The local end tells whose socket it is: a backend's port is the backend's, a peer backend port the proxy's.
                if (ports.Contains(Port(f[1])))
                {
                    backends++;
                }
                else if (ports.Contains(Port(f[2])))
                {
                    proxy++;
                }
            }
        }
    }

    return (proxy, backends);

    static int Port(string address) => int.Parse(address.AsSpan(address.IndexOf(':', StringComparison.Ordinal) + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}

/// <summary>A Kestrel backend on 127.0.0.1 that counts accepted connections and requests.</summary>
internal sealed class CountingBackend
{
    private readonly double? _keepAlive;
    private WebApplication? _app;
    private long _connections;
    private long _requests;

    private CountingBackend(double? keepAlive) => _keepAlive = keepAlive;

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port}/";

    public long Connections => Interlocked.Read(ref _connections);

    public long Requests => Interlocked.Read(ref _requests);

    public static async Task<CountingBackend> StartAsync(int port, double? keepAlive)
    {
        var backend = new CountingBackend(keepAlive);
        await backend.RunAsync(port);
        return backend;
    }

    public Task RestartAsync() => RunAsync(Port);

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private async Task RunAsync(int port)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o =>
        {
            if (_keepAlive is { } seconds)
            {
                o.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(seconds);
            }

            o.Listen(IPAddress.Loopback, port, listen => listen.Use(next => connection =>
            {
                Interlocked.Increment(ref _connections);
                return next(connection);
            }));
        });
        WebApplication app = builder.Build();
        app.Run(context =>
        {
            Interlocked.Increment(ref _requests);
            return context.Response.WriteAsync("ok");
        });
        await app.StartAsync();
        Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
        _app = app;
    }
}
