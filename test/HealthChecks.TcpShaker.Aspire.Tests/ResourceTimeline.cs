using System.Collections.Concurrent;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Aspire.Tests;

/// <summary>Every resource notification of an app, with the time it was seen, recorded from before the app starts.</summary>
internal sealed class ResourceTimeline
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(DateTimeOffset At, string Resource, string? State, HealthStatus? Health, IReadOnlyList<HealthReportSnapshot> Reports);

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public Task RecordAsync(ResourceNotificationService notifications, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        try
        {
            await foreach (ResourceEvent e in notifications.WatchAsync(cancellationToken))
            {
                _entries.Enqueue(new Entry(DateTimeOffset.UtcNow, e.Resource.Name, e.Snapshot.State?.Text, e.Snapshot.HealthStatus, [.. e.Snapshot.HealthReports]));
            }
        }
        catch (OperationCanceledException)
        {
            // The test is over.
        }
    }, CancellationToken.None);

    public IEnumerable<Entry> Of(string resource) => Entries.Where(e => e.Resource == resource);

    /// <summary>The reports of one check of a resource that ran, in order, each with the time it was seen (repeats included).</summary>
    public IEnumerable<(DateTimeOffset At, HealthReportSnapshot Report)> Reports(string resource, string key) =>
        Of(resource).SelectMany(e => e.Reports.Where(r => r.Name == key && r.LastRunAt is not null).Select(r => (e.At, r)));
}
