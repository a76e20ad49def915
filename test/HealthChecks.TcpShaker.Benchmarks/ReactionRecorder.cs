using System.Diagnostics.Metrics;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// Collects the engine's <c>tcpshaker.loop.reaction_time</c> (epoll event to close(), seconds) with a
/// <see cref="MeterListener"/> into a preallocated array; the callback runs on the loop thread and
/// allocates nothing. Only that instrument is enabled, so the others stay off.
/// </summary>
internal sealed class ReactionRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly double[] _samples;
    private int _count;
    private bool _recording;

    internal ReactionRecorder(int capacity)
    {
        _samples = new double[capacity];
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "HealthChecks.TcpShaker" && instrument.Name == "tcpshaker.loop.reaction_time")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            if (!Volatile.Read(ref _recording))
            {
                return;
            }

            int i = Interlocked.Increment(ref _count) - 1;
            if (i < _samples.Length)
            {
                _samples[i] = value;
            }
        });
        _listener.Start();
    }

    /// <summary>Starts keeping samples (the warm-up's are dropped).</summary>
    internal void Begin() => Volatile.Write(ref _recording, true);

    internal Percentiles? Summary()
    {
        Volatile.Write(ref _recording, false);
        int n = Math.Min(Volatile.Read(ref _count), _samples.Length);
        Span<double> us = _samples.AsSpan(0, n);
        for (int i = 0; i < us.Length; i++)
        {
            us[i] *= 1e6;
        }

        return Percentiles.Of(us);
    }

    public void Dispose() => _listener.Dispose();
}
