using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>The prober's own counters, which <c>/metrics</c> exposes: probes by module and status, in flight, refused requests by reason.</summary>
internal sealed class ProberCounters
{
    /// <summary>The refusal reasons, as the <c>reason</c> label spells them.</summary>
    internal const string BadTarget = "bad_target";
    internal const string UnknownModule = "unknown_module";
    internal const string NotAllowed = "not_allowed";
    internal const string Overloaded = "overloaded";
    internal const string BadTimeout = "bad_timeout";

    private static readonly string[] Reasons = [BadTarget, UnknownModule, NotAllowed, Overloaded, BadTimeout];
    private readonly ConcurrentDictionary<(string Module, TcpCheckStatus Status), StrongBox<long>> _probes = new();
    private readonly long[] _refused = new long[Reasons.Length];
    private int _inFlight;

    /// <summary>Probes running now.</summary>
    internal int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Takes a slot for a probe unless <paramref name="limit"/> are running; false when the prober is full.</summary>
    internal bool TryEnter(int limit)
    {
        if (Interlocked.Increment(ref _inFlight) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    /// <summary>Gives back the slot <see cref="TryEnter"/> took.</summary>
    internal void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Counts a finished probe.</summary>
    internal void Probed(string module, TcpCheckStatus status) =>
        Interlocked.Increment(ref _probes.GetOrAdd((module, status), static _ => new StrongBox<long>()).Value);

    /// <summary>Counts a refused request.</summary>
    internal void Refused(string reason) => Interlocked.Increment(ref _refused[Array.IndexOf(Reasons, reason)]);

    /// <summary>Writes the counters' families.</summary>
    internal void Write(MetricsTextWriter writer)
    {
        writer.Family("tcpshaker_prober_probes_total"u8, "counter"u8, "Probes answered by /probe, by module and status."u8);
        foreach (KeyValuePair<(string Module, TcpCheckStatus Status), StrongBox<long>> probe in _probes.OrderBy(p => p.Key.Module, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
        {
            writer.Raw("tcpshaker_prober_probes_total{module=\""u8);
            writer.LabelValue(probe.Key.Module);
            writer.Raw("\",status=\""u8);
            writer.LabelValue(ProbeOutcome.Label(probe.Key.Status));
            writer.Raw("\"} "u8);
            writer.Value(Volatile.Read(ref probe.Value.Value));
            writer.Raw("\n"u8);
        }

        writer.Family("tcpshaker_prober_probes_in_flight"u8, "gauge"u8, "Probes running now."u8);
        writer.Sample("tcpshaker_prober_probes_in_flight"u8, InFlight);
        writer.Family("tcpshaker_prober_requests_refused_total"u8, "counter"u8, "/probe requests refused (400 or 503), by reason."u8);
        for (int i = 0; i < Reasons.Length; i++)
        {
            writer.Sample("tcpshaker_prober_requests_refused_total"u8, "reason"u8, Reasons[i], Volatile.Read(ref _refused[i]));
        }
    }
}
