using System.Collections.Concurrent;
using System.Net;

namespace HealthChecks.TcpShaker.Gateway;

/// <summary>
/// The sample's backends: one small Kestrel server per destination address of the configuration (so the gateway
/// needs nothing else to run), each counting the connections it accepts and the requests it serves. They can be
/// stopped and started from the gateway's page, to watch the health checks react.
/// </summary>
public sealed class Backends : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Backend> _backends = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Starts one backend per destination of every cluster in the <c>ReverseProxy</c> section (loopback addresses only).</summary>
    public static async Task<Backends> StartAsync(IConfiguration reverseProxy)
    {
        var backends = new Backends();
        foreach (IConfigurationSection cluster in reverseProxy.GetSection("Clusters").GetChildren())
        {
            foreach (IConfigurationSection destination in cluster.GetSection("Destinations").GetChildren())
            {
                var address = new Uri(destination["Address"] ?? throw new InvalidOperationException($"Destination {destination.Path} has no Address."));
                if (!IPAddress.TryParse(address.Host, out IPAddress? ip) || !IPAddress.IsLoopback(ip))
                {
                    throw new InvalidOperationException($"The sample starts its backends on loopback only; {destination.Path} is {address}.");
                }

                var backend = new Backend(destination.Key, ip, address.Port);
                await backend.StartAsync();
                backends._backends[destination.Key] = backend;
            }
        }

        return backends;
    }

    public IEnumerable<Backend> All => _backends.Values.OrderBy(b => b.Name, StringComparer.Ordinal);

    public Backend? Find(string name) => _backends.GetValueOrDefault(name);

    public async ValueTask DisposeAsync()
    {
        foreach (Backend backend in _backends.Values)
        {
            await backend.DisposeAsync();
        }
    }
}

/// <summary>One backend: answers every request with its name, counts connections and requests.</summary>
public sealed class Backend(string name, IPAddress address, int port) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private WebApplication? _app;
    private long _connections;
    private long _requests;

    public string Name => name;

    public string Address => $"http://{address}:{port}/";

    public bool Running => _app is not null;

    /// <summary>Connections accepted since the gateway started: proxied traffic only, since the health checks never complete one.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    public long Requests => Interlocked.Read(ref _requests);

    public async Task StartAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_app is not null)
            {
                return;
            }

            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(o => o.Listen(address, port, listen => listen.Use(next => connection =>
            {
                Interlocked.Increment(ref _connections);
                return next(connection);
            })));
            WebApplication app = builder.Build();
            app.Run(context =>
            {
                Interlocked.Increment(ref _requests);
                return context.Response.WriteAsync($"{name} served {context.Request.Path}\n");
            });
            await app.StartAsync();
            _app = app;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task StopAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_app is { } app)
            {
                _app = null;
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _gate.Dispose();
    }
}
