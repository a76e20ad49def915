using HealthChecks.TcpShaker.Gateway;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

// A gateway in front of three backends it starts itself (on the loopback ports of its destinations), with
// half-open active health checks: `dotnet run`, open http://127.0.0.1:5090, stop a backend and watch it go down.
WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
IConfigurationSection reverseProxy = builder.Configuration.GetSection("ReverseProxy");

// The three lines of the integration:
builder.Services.AddReverseProxy()
    .LoadFromConfig(reverseProxy)
    .AddTcpShakerHealthChecks();

await using Backends backends = await Backends.StartAsync(reverseProxy);
builder.Services.AddSingleton(backends);

WebApplication app = builder.Build();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapReverseProxy();

// What the page shows: each destination's active health as YARP sees it, and what each backend has seen.
app.MapGet("/gateway/destinations", (IProxyStateLookup proxy, Backends all) =>
    proxy.GetClusters().SelectMany(cluster => cluster.Destinations.Values.Select(destination =>
    {
        Backend? backend = all.Find(destination.DestinationId);
        return new DestinationView(
            cluster.ClusterId,
            destination.DestinationId,
            destination.Model.Config.Address,
            destination.Health.Active.ToString(),
            cluster.DestinationsState.AvailableDestinations.Contains(destination),
            backend?.Running ?? false,
            backend?.Connections ?? 0,
            backend?.Requests ?? 0);
    })).OrderBy(d => d.Cluster, StringComparer.Ordinal).ThenBy(d => d.Destination, StringComparer.Ordinal));

app.MapPost("/gateway/backends/{name}/{action}", async (string name, string action, Backends all) =>
{
    if (all.Find(name) is not { } backend)
    {
        return Results.NotFound();
    }

    switch (action)
    {
        case "stop":
            await backend.StopAsync();
            return Results.NoContent();
        case "start":
            await backend.StartAsync();
            return Results.NoContent();
        default:
            return Results.BadRequest("stop or start");
    }
});

await app.RunAsync();

/// <summary>One destination on the page.</summary>
internal sealed record DestinationView(string Cluster, string Destination, string Address, string Health, bool Available, bool Running, long Connections, long Requests);

/// <summary>The gateway's entry point (public for tests).</summary>
public partial class Program;
