using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The HTTP side of <c>serve</c>: Kestrel (native AOT) on one address, with
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
    /// <remarks>
    /// The empty builder with Kestrel's core (HTTP/1.1 and HTTP/2, no HTTPS, no QUIC), no routing, no
    /// configuration files and no logging providers: each part linked in is type metadata the native
    /// executable rehydrates at every start, and every <c>tcp-shaker check</c> (a Kubernetes exec probe)
    /// pays for it.
    /// </remarks>
    internal static ProberServer Create(IPEndPoint listen, ProbeEndpoint probe, MetricsEndpoint metrics)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(listen));
        WebApplication app = builder.Build();
        app.Run(context =>
        {
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
                return Task.CompletedTask;
            }

            return context.Request.Path.Value switch
            {
                "/probe" => probe.HandleAsync(context),
                "/metrics" => metrics.HandleAsync(context),
                "/-/healthy" => context.Response.WriteAsync("Healthy\n", context.RequestAborted),
                "/" => LandingAsync(context),
                _ => NotFoundAsync(context),
            };
        });
        return new ProberServer(app);
    }

    /// <summary>Starts listening.</summary>
    internal Task StartAsync(CancellationToken cancellationToken) => _app.StartAsync(cancellationToken);

    /// <summary>Stops listening, letting running requests finish briefly.</summary>
    internal Task StopAsync() => _app.StopAsync(CancellationToken.None);

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private static Task LandingAsync(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(
            "tcp-shaker serve: half-open TCP probes for Prometheus, a drop-in for the blackbox exporter's TCP module.\n"
            + "  /probe?target=HOST:PORT&module=NAME   one probe (blackbox exporter series)\n"
            + "  /metrics                              the watches of --targets and the prober's own metrics\n",
            context.RequestAborted);
    }

    private static Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("Not found: the prober serves /probe, /metrics and /-/healthy.\n", context.RequestAborted);
    }
}
