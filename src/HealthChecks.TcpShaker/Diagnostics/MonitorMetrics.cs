using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>The monitor's instruments, on the meter <c>HealthChecks.TcpShaker</c>: watches by health, and changes of health.</summary>
internal sealed class MonitorMetrics : IDisposable
{
    private static readonly string[] s_healthNames = ["unknown", "up", "down"];

    // One tcpshaker.watches gauge per meter, whatever the number of monitors on it: monitors built from one
    // IMeterFactory (YARP's and the shared one, say) share its meter, and a second gauge of the same name would
    // report the same series twice. Each monitor's series carry its own tcpshaker.monitor tag.
    private static readonly ConditionalWeakTable<Meter, WatchesGauge> s_gauges = new();
    private static long s_lastMonitorId;

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _transitions;
    private readonly WatchesGauge _gauge;
    private readonly TcpShakerMonitor _monitor;
    private readonly string _monitorId;

    internal MonitorMetrics(IMeterFactory? meterFactory, TcpShakerMonitor monitor)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(TcpShakerMetrics.MeterName) ?? new Meter(TcpShakerMetrics.MeterName);
        _transitions = _meter.CreateCounter<long>("tcpshaker.watch.transitions", "{transition}",
            "Changes of a watch's health, by previous and current health.");
        _monitor = monitor;
        _monitorId = Interlocked.Increment(ref s_lastMonitorId).ToString(CultureInfo.InvariantCulture);
        _gauge = s_gauges.GetValue(_meter, static meter => new WatchesGauge(meter));
        _gauge.Add(this);
    }

    internal void Transition(TcpHealthChange change) => _transitions.Add(1,
        new KeyValuePair<string, object?>("tcpshaker.health.previous", s_healthNames[(int)change.Previous]),
        new KeyValuePair<string, object?>("tcpshaker.health.current", s_healthNames[(int)change.Current]));

    public void Dispose()
    {
        // Off the gauge first: a disposed monitor reports nothing, and the meter (the factory's, which lives on)
        // no longer holds it.
        _gauge.Remove(this);
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private void Count(List<Measurement<int>> measurements)
    {
        int[] counts = new int[s_healthNames.Length];
        foreach (TcpWatch watch in _monitor.Watches)
        {
            counts[(int)watch.Health]++;
        }

        for (int i = 0; i < counts.Length; i++)
        {
            measurements.Add(new Measurement<int>(counts[i],
                new KeyValuePair<string, object?>("tcpshaker.health", s_healthNames[i]),
                new KeyValuePair<string, object?>("tcpshaker.monitor", _monitorId)));
        }
    }

    /// <summary>The meter's one <c>tcpshaker.watches</c> gauge: the watches of each live monitor on it, by health.</summary>
    private sealed class WatchesGauge
    {
        private readonly List<MonitorMetrics> _monitors = [];

        public WatchesGauge(Meter meter) =>
            meter.CreateObservableGauge("tcpshaker.watches", Observe, "{watch}", "Watches running, by monitor and health.");

        public void Add(MonitorMetrics monitor)
        {
            lock (_monitors)
            {
                _monitors.Add(monitor);
            }
        }

        public void Remove(MonitorMetrics monitor)
        {
            lock (_monitors)
            {
                _monitors.Remove(monitor);
            }
        }

        private List<Measurement<int>> Observe()
        {
            MonitorMetrics[] monitors;
            lock (_monitors)
            {
                monitors = [.. _monitors];
            }

            var measurements = new List<Measurement<int>>(monitors.Length * s_healthNames.Length);
            foreach (MonitorMetrics monitor in monitors)
            {
                monitor.Count(measurements);
            }

            return measurements;
        }
    }
}
