using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>
/// The engine's instruments, on the meter <c>HealthChecks.TcpShaker</c>. Each records nothing, and
/// allocates nothing, unless a listener is attached.
/// </summary>
internal sealed class TcpShakerMetrics : IDisposable
{
    /// <summary>The meter (and activity source) name.</summary>
    internal const string MeterName = "HealthChecks.TcpShaker";

    /// <summary>A reaction slower than this risks the kernel's 200 ms delayed-ACK timer firing.</summary>
    internal static readonly long AckLeakRiskTicks = Stopwatch.Frequency / 10;

    private static readonly object[] s_statusNames = Enum.GetValues<TcpCheckStatus>().Select(s => (object)ToTag(s)).ToArray();
    private static readonly object s_halfOpen = "half_open";
    private static readonly object s_fullConnect = "full_connect";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _checks;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Histogram<double> _reaction;
    private readonly Counter<long> _ackLeakRisk;
    private readonly Counter<long> _loopFaults;
    private readonly EndpointTags _endpointTags = new();

    internal TcpShakerMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _checks = _meter.CreateCounter<long>("tcpshaker.checks", "{check}", "TCP checks completed, by outcome and mode.");
        _duration = _meter.CreateHistogram<double>("tcpshaker.check.duration", "s", "Time from request to answer of a TCP check.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _inFlight = _meter.CreateUpDownCounter<long>("tcpshaker.checks.in_flight", "{check}", "TCP checks queued or waiting for an answer.");
        _reaction = _meter.CreateHistogram<double>("tcpshaker.loop.reaction_time", "s", "Time from the epoll event to close() of the checking socket.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.1, 0.2] });
        _ackLeakRisk = _meter.CreateCounter<long>("tcpshaker.loop.ack_leak_risk", "{event}", "Sockets closed more than 100 ms after their event: the handshake ACK may have leaked.");
        _loopFaults = _meter.CreateCounter<long>("tcpshaker.loop.faults", "{fault}", "Checking loops that stopped on an unexpected error.");
    }

    /// <summary>The meter the instruments belong to (tests filter on it).</summary>
    internal Meter Meter => _meter;

    internal static string ToTag(TcpCheckStatus status) => status switch
    {
        TcpCheckStatus.Open => "open",
        TcpCheckStatus.Refused => "refused",
        TcpCheckStatus.Timeout => "timeout",
        TcpCheckStatus.Unreachable => "unreachable",
        TcpCheckStatus.ResolveFailed => "resolve_failed",
        _ => "local_error",
    };

    internal static string ToTag(TcpShakerMode mode) => mode == TcpShakerMode.HalfOpen ? "half_open" : "full_connect";

    internal void CheckStarted() => _inFlight.Add(1);

    internal void CheckEnded() => _inFlight.Add(-1);

    internal void CheckCompleted(TcpCheckStatus status, TcpShakerMode mode, TimeSpan elapsed, IPEndPoint? endPoint)
    {
        _inFlight.Add(-1);
        if (!_checks.Enabled && !_duration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "tcpshaker.status", s_statusNames[(int)status] },
            { "tcpshaker.mode", mode == TcpShakerMode.HalfOpen ? s_halfOpen : s_fullConnect },
        };
        if (endPoint is not null && _endpointTags.TryGet(endPoint, out object? address, out object? port))
        {
            tags.Add("server.address", address);
            tags.Add("server.port", port);
        }

        _checks.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, tags);
    }

    internal void LoopReaction(long ticks)
    {
        if (_reaction.Enabled)
        {
            _reaction.Record((double)ticks / Stopwatch.Frequency);
        }

        if (ticks > AckLeakRiskTicks)
        {
            _ackLeakRisk.Add(1);
        }
    }

    internal void LoopFaulted(Exception exception) =>
        _loopFaults.Add(1, new KeyValuePair<string, object?>("error.type", exception.GetType().FullName));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
