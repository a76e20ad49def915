using System.Diagnostics;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The standard process series every Prometheus client library exposes (<c>process_cpu_seconds_total</c>,
/// <c>process_resident_memory_bytes</c>, <c>process_start_time_seconds</c>), so the prober's own cost is on
/// the dashboards that already show the blackbox exporter's.
/// </summary>
internal static class ProcessMetrics
{
    private static readonly double StartTimeSeconds = new DateTimeOffset(Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>Writes the three families.</summary>
    internal static void Write(MetricsTextWriter writer)
    {
        writer.Family("process_cpu_seconds_total"u8, "counter"u8, "Total user and system CPU time spent in seconds."u8);
        writer.Sample("process_cpu_seconds_total"u8, Environment.CpuUsage.TotalTime.TotalSeconds);
        writer.Family("process_resident_memory_bytes"u8, "gauge"u8, "Resident memory size in bytes."u8);
        writer.Sample("process_resident_memory_bytes"u8, Environment.WorkingSet);
        writer.Family("process_start_time_seconds"u8, "gauge"u8, "Start time of the process since unix epoch in seconds."u8);
        writer.Sample("process_start_time_seconds"u8, StartTimeSeconds);
    }
}
