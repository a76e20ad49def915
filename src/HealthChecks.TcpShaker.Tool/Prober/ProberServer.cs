using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The HTTP side of <c>serve</c>: Kestrel (slim builder, native AOT) on one address, with
/// <c>/probe</c>, <c>/metrics</c>, <c>/-/healthy</c> and a short landing page at <c>/</c>.
/// </summary>
internal sealed class ProberServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProberServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The address Kestrel listens on (the port filled in when 0 was asked for).</summary>
    internal string Address => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Builds the server; nothing listens until <see cref="StartAsync"/>.</summary>
    internal static ProberServer Create(IPEndPoint listen, ProbeEndpoint probe, MetricsEndpoint metrics)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(listen));
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        WebApplication app = builder.Build();
        app.MapGet("/probe", probe.HandleAsync);
        app.MapGet("/metrics", metrics.HandleAsync);
        app.MapGet("/-/healthy", context => context.Response.WriteAsync("Healthy\n", context.RequestAborted));
        app.MapGet("/", context =>
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync(
                "tcp-shaker serve: half-open TCP probes for Prometheus, a drop-in for the blackbox exporter's TCP module.\n"
                + "  /probe?target=HOST:PORT&module=NAME   one probe (blackbox exporter series)\n"
                + "  /metrics                              the watches of --targets and the prober's own metrics\n",
                context.RequestAborted);
        });
        return new ProberServer(app);
    }

    /// <summary>Starts listening.</summary>
    internal Task StartAsync(CancellationToken cancellationToken) => _app.StartAsync(cancellationToken);

    /// <summary>Stops listening, letting running requests finish briefly.</summary>
    internal Task StopAsync() => _app.StopAsync(CancellationToken.None);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
