using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// <c>GET /probe?target=HOST:PORT&amp;module=NAME</c>, the blackbox exporter's contract: the probe's
/// series in the Prometheus text format, 200 whatever the target did (<c>probe_success</c> says it);
/// 400 with a sentence for a missing or bad target, an unknown module, or a target outside the
/// allow-list; 503 when <c>max_concurrent_probes</c> are running (the prober is full, not the client
/// wrong: Prometheus counts the scrape as failed and tries at the next interval).
/// </summary>
internal sealed class ProbeEndpoint
{
    /// <summary>The blackbox exporter's <c>--timeout-offset</c> default: the probe ends this much before Prometheus gives up on the scrape.</summary>
    internal static readonly TimeSpan TimeoutOffset = TimeSpan.FromSeconds(0.5);

    /// <summary>The blackbox exporter's timeout when the request has no scrape-timeout header.</summary>
    internal static readonly TimeSpan TimeoutWithoutHeader = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan ShortestTimeout = TimeSpan.FromMilliseconds(1);

    private readonly ProberConfig _config;
    private readonly TargetProber _prober;
    private readonly ProberCounters _counters;

    internal ProbeEndpoint(ProberConfig config, TargetProber prober, ProberCounters counters)
    {
        _config = config;
        _prober = prober;
        _counters = counters;
    }

    /// <summary>Answers one request.</summary>
    internal async Task HandleAsync(HttpContext context)
    {
        IQueryCollection query = context.Request.Query;
        string moduleName = query["module"] is [{ Length: > 0 } named] ? named : ProberModule.DefaultName;
        if (!_config.Modules.TryGetValue(moduleName, out ProberModule? module))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ProberCounters.UnknownModule, $"Unknown module \"{moduleName}\": the prober has {string.Join(", ", _config.Modules.Keys.Order(StringComparer.Ordinal))}.");
            return;
        }

        if (query["target"] is not [{ Length: > 0 } targetText])
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ProberCounters.BadTarget, "Target parameter is missing");
            return;
        }

        TcpEndpoint target;
        try
        {
            target = TcpEndpoint.Parse(targetText);
        }
        catch (ArgumentException exception)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ProberCounters.BadTarget, $"Bad target: {CliSymbols.WithoutParameterName(exception)}");
            return;
        }

        if (_config.AllowList.RefusePort(target.Port) is { } portRefusal)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ProberCounters.NotAllowed, $"Target {target} refused: {portRefusal}");
            return;
        }

        if (!TryGetTimeout(context.Request.Headers["X-Prometheus-Scrape-Timeout-Seconds"], module, out TimeSpan timeout, out string? timeoutError))
        {
            // The blackbox exporter answers this with 500 too: the header is Prometheus', not the user's.
            await RefuseAsync(context, StatusCodes.Status500InternalServerError, ProberCounters.BadTimeout, $"Failed to parse timeout from Prometheus header: {timeoutError}");
            return;
        }

        if (!_counters.TryEnter(_config.MaxConcurrentProbes))
        {
            context.Response.Headers.RetryAfter = "1";
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, ProberCounters.Overloaded, string.Create(CultureInfo.InvariantCulture, $"The prober is running its limit of {_config.MaxConcurrentProbes} probes (tcp_shaker.max_concurrent_probes); try again."));
            return;
        }

        (ProbeOutcome outcome, string? refusal) result;
        try
        {
            result = await _prober.ProbeAsync(module, target, timeout, context.RequestAborted);
        }
        finally
        {
            _counters.Exit();
        }

        if (result.refusal is not null)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ProberCounters.NotAllowed, $"Target refused: {result.refusal}");
            return;
        }

        ProbeOutcome outcome = result.outcome;
        _counters.Probed(module.Name, outcome.Status);
        context.Response.ContentType = MetricsTextWriter.ContentType;
        var writer = new MetricsTextWriter(context.Response.BodyWriter);
        WriteProbe(writer, outcome);
        await writer.FlushAsync(context.RequestAborted);
    }

    /// <summary>
    /// The probe's timeout as the blackbox exporter computes it: the scrape's timeout (header, else 120 s)
    /// less 0.5 s, or the module's timeout when that is shorter; bounded by <see cref="TcpShaker.MaxTimeout"/>.
    /// </summary>
    internal static bool TryGetTimeout(StringValues header, ProberModule module, out TimeSpan timeout, out string? error)
    {
        timeout = TimeoutWithoutHeader;
        error = null;
        double scrapeSeconds = 0;
        if (header is [{ Length: > 0 } text])
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out scrapeSeconds) || !double.IsFinite(scrapeSeconds))
            {
                error = $"strconv.ParseFloat: parsing \"{text}\": invalid syntax";
                return false;
            }
        }

        TimeSpan scrape = scrapeSeconds == 0 ? TimeoutWithoutHeader : TimeSpan.FromSeconds(Math.Min(scrapeSeconds, TcpShaker.MaxTimeout.TotalSeconds));
        TimeSpan max = scrape - TimeoutOffset;
        timeout = module.Timeout is { } own && (own < max || max < TimeSpan.Zero) ? own : max;
        timeout = timeout < ShortestTimeout ? ShortestTimeout : timeout > TcpShaker.MaxTimeout ? TcpShaker.MaxTimeout : timeout;
        return true;
    }

    /// <summary>The series of one probe: the blackbox exporter's, then this project's.</summary>
    internal static void WriteProbe(MetricsTextWriter writer, in ProbeOutcome outcome)
    {
        writer.Family("probe_dns_lookup_time_seconds"u8, "gauge"u8, "Returns the time taken for probe dns lookup in seconds"u8);
        writer.Sample("probe_dns_lookup_time_seconds"u8, outcome.DnsLookup.TotalSeconds);
        writer.Family("probe_duration_seconds"u8, "gauge"u8, "Returns how long the probe took to complete in seconds"u8);
        writer.Sample("probe_duration_seconds"u8, outcome.Duration.TotalSeconds);
        // Always 0: the blackbox exporter's TCP prober registers it for query_response, which serve refuses.
        writer.Family("probe_failed_due_to_regex"u8, "gauge"u8, "Indicates if probe failed due to regex"u8);
        writer.Sample("probe_failed_due_to_regex"u8, 0);
        writer.Family("probe_ip_addr_hash"u8, "gauge"u8, "Specifies the hash of IP address. It's useful to detect if the IP address changes."u8);
        writer.Sample("probe_ip_addr_hash"u8, outcome.IPAddressHash);
        writer.Family("probe_ip_protocol"u8, "gauge"u8, "Specifies whether probe ip protocol is IP4 or IP6"u8);
        writer.Sample("probe_ip_protocol"u8, outcome.IPProtocol);
        writer.Family("probe_success"u8, "gauge"u8, "Displays whether or not the probe was a success"u8);
        writer.Sample("probe_success"u8, outcome.Success ? 1 : 0);
        writer.Family("tcpshaker_probe_handshake_seconds"u8, "gauge"u8, "The check alone: SYN to SYN-ACK (open), RST (refused), ICMP error (unreachable) or the timeout."u8);
        writer.Sample("tcpshaker_probe_handshake_seconds"u8, outcome.Handshake.TotalSeconds);
        writer.Family("tcpshaker_probe_mode"u8, "gauge"u8, "The mode the check ran in (half_open, raw_syn, full_connect): 1 for the mode used."u8);
        writer.Sample("tcpshaker_probe_mode"u8, "mode"u8, ProberModule.ModeLabel(outcome.Mode), 1);
        writer.Family("tcpshaker_probe_status"u8, "gauge"u8, "The check's status: 1 for the status found, 0 for the others."u8);
        foreach ((TcpCheckStatus status, string label) in ProbeOutcome.StatusLabels)
        {
            writer.Sample("tcpshaker_probe_status"u8, "status"u8, label, outcome.Status == status ? 1 : 0);
        }
    }

    private async Task RefuseAsync(HttpContext context, int statusCode, string reason, string sentence)
    {
        _counters.Refused(reason);
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(sentence + "\n", context.RequestAborted);
    }
}
