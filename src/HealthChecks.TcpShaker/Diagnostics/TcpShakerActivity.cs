using System.Diagnostics;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>The <see cref="ActivitySource"/> behind a span per check; it costs one check of <see cref="ActivitySource.HasListeners"/> when nobody listens.</summary>
internal static class TcpShakerActivity
{
    internal static readonly ActivitySource Source = new(TcpShakerMetrics.MeterName);
}
