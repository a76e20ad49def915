using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Sample;

/// <summary>
/// Logs each check's state once when it changes (Healthy to Unhealthy and back), not on every
/// publishing period: a log that repeats "Unhealthy" every few seconds hides the moment it broke.
/// A check first seen Healthy logs nothing; first seen in any other state, it logs that state.
/// </summary>
internal sealed partial class HealthStateChangeLogger(ILogger<HealthStateChangeLogger> logger) : IHealthCheckPublisher
{
    private readonly ConcurrentDictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        foreach ((string name, HealthReportEntry entry) in report.Entries)
        {
            HealthStatus? previous = _last.TryGetValue(name, out HealthStatus known) ? known : null;
            if (previous == entry.Status)
            {
                continue;
            }

            _last[name] = entry.Status;
            if (previous is null && entry.Status == HealthStatus.Healthy)
            {
                continue;
            }

            string from = previous?.ToString() ?? "Unknown";
            if (entry.Status == HealthStatus.Healthy)
            {
                Recovered(logger, name, from, entry.Description ?? string.Empty);
            }
            else
            {
                Changed(logger, name, from, entry.Status, entry.Description ?? entry.Exception?.Message ?? string.Empty);
            }
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(1, LogLevel.Warning, "Health check {HealthCheck} changed from {Previous} to {Status}: {Description}")]
    private static partial void Changed(ILogger logger, string healthCheck, string previous, HealthStatus status, string description);

    [LoggerMessage(2, LogLevel.Information, "Health check {HealthCheck} recovered from {Previous} to Healthy: {Description}")]
    private static partial void Recovered(ILogger logger, string healthCheck, string previous, string description);
}
