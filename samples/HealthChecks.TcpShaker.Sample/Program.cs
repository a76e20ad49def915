using System.Net;
using HealthChecks.TcpShaker.Sample;
using HealthChecks.UI.Client;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
IConfigurationSection checks = builder.Configuration.GetSection("HealthChecks");

// The shared engine's settings (TcpShakerOptions: LoopCount, ForceFullConnect, ...), from HealthChecks:Engine.
builder.Services.AddTcpShakerEngine(checks.GetSection("Engine"));

builder.Services.AddHealthChecks()
    // Liveness: is this process able to answer at all? No dependency belongs here.
    .AddCheck("self", () => HealthCheckResult.Healthy("The process answers requests."), tags: [SampleTags.Live])
    // Readiness: this app's own HTTP port, checked half-open. With no Endpoints configured it
    // follows the URL the app listens on (Urls, --urls, ASPNETCORE_URLS or HTTP_PORTS).
    .AddTcpShaker("self-http", options =>
    {
        checks.GetSection("SelfHttp").Bind(options);
        if (options.Endpoints.Count == 0)
        {
            options.Endpoints.Add(SelfEndpoint.FromConfiguration(builder.Configuration));
        }
    }, tags: [SampleTags.Ready])
    // Readiness: the dependencies, bound from appsettings.json (a closed loopback port by default).
    .AddTcpShaker("dependencies", checks.GetSection("Dependencies"), tags: [SampleTags.Ready])
    // Watched (Watch in appsettings.json): checked continuously from host start, up after Rise successes in a
    // row, down after Fall failures; answers from the watches' state and probes nothing per request. With no
    // Endpoints it watches this app's own port and the dependencies. Untagged: only /health and the dashboard show it.
    .AddTcpShaker("watched", options =>
    {
        checks.GetSection("Watched").Bind(options);
        if (options.Endpoints.Count == 0)
        {
            options.Endpoints.Add(SelfEndpoint.FromConfiguration(builder.Configuration));
            foreach (string dependency in checks.GetSection("Dependencies:Endpoints").Get<string[]>() ?? [])
            {
                options.Endpoints.Add(dependency);
            }
        }
    });

// Logs each check's state changes once (Healthy -> Unhealthy and back), not every period.
builder.Services.Configure<HealthCheckPublisherOptions>(checks.GetSection("Publisher"));
builder.Services.AddSingleton<IHealthCheckPublisher, HealthStateChangeLogger>();

OpenTelemetryBuilder otel = builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource.AddService("HealthChecks.TcpShaker.Sample"))
    .WithMetrics(metrics => metrics
        .AddMeter("HealthChecks.TcpShaker", "Microsoft.AspNetCore.Hosting")
        .AddPrometheusExporter())
    .WithTracing(tracing => tracing.AddSource("HealthChecks.TcpShaker"));
if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
{
    // Traces and metrics to a collector, only when one is configured.
    otel.UseOtlpExporter();
}

WebApplication app = builder.Build();

// What the health endpoints reveal: every dependency's address, port, errno and handshake time,
// a map of the network behind this app. So the detail goes to callers on this machine only (the
// dashboard, curl, kubectl port-forward); anyone else gets the status word, which is all a load
// balancer or the kubelet needs, and /health (everything, for people) refuses them.
// Behind a reverse proxy on this machine every request comes from loopback: protect the endpoints
// there with RequireHost on a management port or RequireAuthorization instead (README).
app.UseWhen(context => context.Request.Path.StartsWithSegments("/health") && !IsLocalCaller(context), refused =>
    refused.Run(context =>
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        return context.Response.WriteAsync("/health answers requests from this machine only.");
    }));

app.UseDefaultFiles();
app.UseStaticFiles();

app.MapHealthChecks("/livez", new HealthCheckOptions
{
    Predicate = registration => registration.Tags.Contains(SampleTags.Live),
    ResponseWriter = DetailForLocalCallers,
});
app.MapHealthChecks("/readyz", new HealthCheckOptions
{
    Predicate = registration => registration.Tags.Contains(SampleTags.Ready),
    ResponseWriter = DetailForLocalCallers,
});
app.MapHealthChecks("/health", new HealthCheckOptions
{
    ResponseWriter = UIResponseWriter.WriteHealthCheckUIResponse,
});
app.MapPrometheusScrapingEndpoint("/metrics");

app.Run();

// The remote address of the connection itself, which a client cannot forge (unlike the Host header).
static bool IsLocalCaller(HttpContext context) =>
    context.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address);

// Each entry with its Data (HealthChecks UI JSON) for local callers; the status word for the rest.
static Task DetailForLocalCallers(HttpContext context, HealthReport report)
{
    if (IsLocalCaller(context))
    {
        return UIResponseWriter.WriteHealthCheckUIResponse(context, report);
    }

    context.Response.ContentType = "text/plain";
    return context.Response.WriteAsync(report.Status.ToString());
}

/// <summary>The sample app; public so tests can host it with <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;
