using Microsoft.AspNetCore.Http;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary><c>GET /metrics</c>: the watches of <c>--targets</c> (when given) and the prober's own counters, in the Prometheus text format.</summary>
internal sealed class MetricsEndpoint
{
    private readonly ProberCounters _counters;
    private readonly TargetWatches? _watches;

    internal MetricsEndpoint(ProberCounters counters, TargetWatches? watches)
    {
        _counters = counters;
        _watches = watches;
    }

    /// <summary>Answers one scrape.</summary>
    internal async Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = MetricsTextWriter.ContentType;
        var writer = new MetricsTextWriter(context.Response.BodyWriter);
        if (_watches is not null)
        {
            await _watches.WriteAsync(writer, context.RequestAborted);
        }

        _counters.Write(writer);
        await writer.FlushAsync(context.RequestAborted);
    }
}
