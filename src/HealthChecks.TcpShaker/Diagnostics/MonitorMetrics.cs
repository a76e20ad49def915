using System.Diagnostics.Metrics;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>The monitor's instruments, on the meter <c>HealthChecks.TcpShaker</c>: watches by health, and changes of health.</summary>
internal sealed class MonitorMetrics : IDisposable
{
    private static readonly string[] s_healthNames = ["unknown", "up", "down"];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _transitions;

    internal MonitorMetrics(IMeterFactory? meterFactory, TcpShakerMonitor monitor)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(TcpShakerMetrics.MeterName) ?? new Meter(TcpShakerMetrics.MeterName);
        _transitions = _meter.CreateCounter<long>("tcpshaker.watch.transitions", "{transition}",
            "Changes of a watch's health, by previous and current health.");
        _meter.CreateObservableGauge("tcpshaker.watches", () => Count(monitor), "{watch}", "Watches running, by health.");
    }

    internal void Transition(TcpHealthChange change) => _transitions.Add(1,
        new KeyValuePair<string, object?>("tcpshaker.health.previous", s_healthNames[(int)change.Previous]),
        new KeyValuePair<string, object?>("tcpshaker.health.current", s_healthNames[(int)change.Current]));

    private static Measurement<int>[] Count(TcpShakerMonitor monitor)
    {
        int[] counts = new int[s_healthNames.Length];
        foreach (TcpWatch watch in monitor.Watches)
        {
            counts[(int)watch.Health]++;
        }

        var measurements = new Measurement<int>[counts.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            measurements[i] = new Measurement<int>(counts[i], new KeyValuePair<string, object?>("tcpshaker.health", s_healthNames[i]));
        }

        return measurements;
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
