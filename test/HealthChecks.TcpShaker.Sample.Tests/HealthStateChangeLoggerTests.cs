using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace HealthChecks.TcpShaker.Sample.Tests;

public sealed class HealthStateChangeLoggerTests
{
    private readonly FakeLogger<HealthStateChangeLogger> _logger = new();

    private static HealthReport Report(params (string Name, HealthStatus Status)[] entries) => new(
        entries.ToDictionary(e => e.Name, e => new HealthReportEntry(e.Status, $"{e.Name} is {e.Status}", TimeSpan.FromMilliseconds(1), null, null)),
        TimeSpan.FromMilliseconds(1));

    private static async Task PublishAsync(HealthStateChangeLogger publisher, params (string, HealthStatus)[] entries) =>
        await publisher.PublishAsync(Report(entries), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Logs_each_transition_once_and_nothing_while_a_state_holds()
    {
        var publisher = new HealthStateChangeLogger(_logger);
        HealthStatus[] sequence =
        [
            HealthStatus.Healthy, HealthStatus.Healthy, HealthStatus.Unhealthy, HealthStatus.Unhealthy, HealthStatus.Unhealthy,
            HealthStatus.Healthy, HealthStatus.Healthy, HealthStatus.Degraded, HealthStatus.Unhealthy, HealthStatus.Healthy,
        ];

        foreach (HealthStatus status in sequence)
        {
            await PublishAsync(publisher, ("db", status));
        }

        IReadOnlyList<FakeLogRecord> logged = _logger.Collector.GetSnapshot();
        Assert.Equal(
        [
            "Health check db changed from Healthy to Unhealthy: db is Unhealthy",
            "Health check db recovered from Unhealthy to Healthy: db is Healthy",
            "Health check db changed from Healthy to Degraded: db is Degraded",
            "Health check db changed from Degraded to Unhealthy: db is Unhealthy",
            "Health check db recovered from Unhealthy to Healthy: db is Healthy",
        ], logged.Select(r => r.Message));
        Assert.Equal([LogLevel.Warning, LogLevel.Information, LogLevel.Warning, LogLevel.Warning, LogLevel.Information], logged.Select(r => r.Level));
    }

    [Fact]
    public async Task Tracks_checks_independently_and_reports_a_check_first_seen_failing()
    {
        var publisher = new HealthStateChangeLogger(_logger);

        await PublishAsync(publisher, ("self-http", HealthStatus.Healthy), ("dependencies", HealthStatus.Unhealthy));
        await PublishAsync(publisher, ("self-http", HealthStatus.Healthy), ("dependencies", HealthStatus.Unhealthy));
        await PublishAsync(publisher, ("self-http", HealthStatus.Unhealthy), ("dependencies", HealthStatus.Unhealthy));

        Assert.Equal(
        [
            "Health check dependencies changed from Unknown to Unhealthy: dependencies is Unhealthy",
            "Health check self-http changed from Healthy to Unhealthy: self-http is Unhealthy",
        ], _logger.Collector.GetSnapshot().Select(r => r.Message));
        Assert.Equal("dependencies", _logger.Collector.GetSnapshot()[0].StructuredState!.Single(kv => kv.Key == "HealthCheck").Value);
    }
}
