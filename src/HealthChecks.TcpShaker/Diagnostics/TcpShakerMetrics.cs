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
    internal const int AckLeakRiskMilliseconds = 100;

    /// <summary><see cref="AckLeakRiskMilliseconds"/> in <see cref="Stopwatch"/> ticks.</summary>
    internal static readonly long AckLeakRiskTicks = Stopwatch.Frequency * AckLeakRiskMilliseconds / 1000;

    private static readonly object[] s_statusNames = Enum.GetValues<TcpCheckStatus>().Select(s => (object)ToTag(s)).ToArray();
    private static readonly object s_halfOpen = "half_open";
    private static readonly object s_fullConnect = "full_connect";
    private static readonly object s_rawSyn = "raw_syn";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _checks;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Histogram<double> _reaction;
    private readonly Counter<long> _ackLeakRisk;
    private readonly Counter<long> _acksLeaked;
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
        _ackLeakRisk = _meter.CreateCounter<long>("tcpshaker.loop.ack_leak_risk", "{event}", "Open checks closed more than 100 ms after their SYN-ACK arrived (or, unmeasured, after their event): the 200 ms delayed ACK came close.");
        _acksLeaked = _meter.CreateCounter<long>("tcpshaker.loop.acks_leaked", "{ack}", "Half-open checks whose handshake ACK the kernel sent before close() (read from TCP_INFO): the server saw a connection.");
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

    internal static string ToTag(TcpShakerMode mode) => (string)ModeTag(mode);

    private static object ModeTag(TcpShakerMode mode) => mode switch
    {
        TcpShakerMode.HalfOpen => s_halfOpen,
        TcpShakerMode.RawSyn => s_rawSyn,
        _ => s_fullConnect,
    };

    /// <summary>
    /// Set while the engine verifies itself at start, so its private loopback check (a random port)
    /// never shows up as a series of its own. No other check can run meanwhile.
    /// </summary>
    internal bool Muted { get; set; }

    internal void CheckStarted()
    {
        if (!Muted)
        {
            _inFlight.Add(1);
        }
    }

    internal void CheckEnded()
    {
        if (!Muted)
        {
            _inFlight.Add(-1);
        }
    }

    internal void CheckCompleted(TcpCheckStatus status, TcpShakerMode mode, TimeSpan elapsed, IPEndPoint? endPoint)
    {
        if (Muted)
        {
            return;
        }

        _inFlight.Add(-1);
        if (!_checks.Enabled && !_duration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "tcpshaker.status", s_statusNames[(int)status] },
            { "tcpshaker.mode", ModeTag(mode) },
        };
        if (endPoint is not null && _endpointTags.TryGet(endPoint, out object? address, out object? port))
        {
            tags.Add("server.address", address);
            tags.Add("server.port", port);
        }

        _checks.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>
    /// Whether anyone listens to the ACK-leak instruments: only then does the loop pay one more
    /// syscall per open check (<c>TCP_INFO</c>) to measure from the SYN-ACK itself.
    /// </summary>
    internal bool WatchesAckLeaks => !Muted && (_acksLeaked.Enabled || _ackLeakRisk.Enabled);

    /// <param name="ticks">From the epoll event to <c>close()</c>.</param>
    internal void LoopReaction(long ticks)
    {
        if (_reaction.Enabled && !Muted)
        {
            _reaction.Record((double)ticks / Stopwatch.Frequency);
        }
    }

    /// <summary>Records how close an open check came to leaking its handshake ACK.</summary>
    /// <param name="reactionTicks">From the epoll event to <c>close()</c>.</param>
    /// <param name="sinceSynAckMilliseconds">From the SYN-ACK's arrival to the <c>TCP_INFO</c> read, or -1 when unknown.</param>
    /// <param name="ackLeaked">Whether the kernel had already sent the handshake ACK.</param>
    internal void HandshakeClosed(long reactionTicks, long sinceSynAckMilliseconds, bool ackLeaked)
    {
        if (reactionTicks > AckLeakRiskTicks || sinceSynAckMilliseconds >= AckLeakRiskMilliseconds)
        {
            _ackLeakRisk.Add(1);
        }

        if (ackLeaked)
        {
            _acksLeaked.Add(1);
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
