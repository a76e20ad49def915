using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Aspire;

/// <summary>
/// The health check of one resource endpoint: it answers from the endpoint's watch at once and sends nothing, however
/// often Aspire polls. The dashboard shows a report's status and description only, so the description carries what
/// <c>Data</c> holds: address, last result, handshake time and mode.
/// </summary>
internal sealed class TcpShakerResourceHealthCheck(ResourceEndpointTarget target, TcpShaker shaker) : IHealthCheck
{
    // Health, sentence and last result are read separately; a change between two reads is retried, a bounded number of times.
    private const int MaxReads = 3;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        HealthStatus failure = context.Registration.FailureStatus;
        TcpWatch? watch = target.Watch;
        if (watch is null)
        {
            string sentence = target.Problem
                ?? $"The endpoint '{target.EndpointName}' of the resource '{target.ResourceName}' has no address yet: DCP allocates it when the resource starts.";
            return Task.FromResult(new HealthCheckResult(failure, sentence));
        }

        TcpTargetHealth health = watch.Health;
        string described = watch.Describe();
        TcpCheckResult? last = watch.LastResult;
        for (int read = 1; read < MaxReads && watch.Health != health; read++)
        {
            health = watch.Health;
            described = watch.Describe();
            last = watch.LastResult;
        }

        string mode = shaker.Mode.ToString();
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["address"] = watch.Endpoint.ToString(),
            ["checks"] = target.Via ?? string.Empty,
            ["health"] = health.ToString(),
            ["since"] = watch.Since,
            ["mode"] = mode,
        };
        string detail = $"not checked yet ({mode}); {target.Via}";
        if (last is { } result)
        {
            string handshake = result.Elapsed.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
            data["status"] = result.Status.ToString();
            data["handshakeMilliseconds"] = result.Elapsed.TotalMilliseconds;
            if (result.RemoteEndPoint is { } remote)
            {
                data["remote"] = remote.ToString();
            }

            detail = $"last check {result.Status} in {handshake} ms ({mode}); {target.Via}";
        }

        if (watch.UnknownReason is { } reason)
        {
            data["unknownReason"] = reason;
        }

        string description = $"{described}; {detail}";
        return Task.FromResult(health == TcpTargetHealth.Up
            ? HealthCheckResult.Healthy(description, data)
            : new HealthCheckResult(failure, description, data: data));
    }
}
