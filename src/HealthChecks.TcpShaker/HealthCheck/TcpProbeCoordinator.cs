using System.Collections.Concurrent;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.HealthCheck;

/// <summary>
/// Keeps health checks from amplifying load: concurrent checks of the same endpoint (same address
/// family, timeout and mode) share one probe in flight, and with
/// <see cref="TcpShakerCheckOptions.MinimumInterval"/> a recent result is reused instead of probing again.
/// A DI singleton, so every run of every registration in the container shares it.
/// </summary>
/// <remarks>
/// The shared probe runs without any caller's cancellation token (it is bounded by its timeout); each
/// caller waits on it with its own token, so one caller giving up never cancels the probe for the others.
/// Entries are kept per endpoint of the registrations, a set fixed at start-up, so the table stays small.
/// </remarks>
internal sealed class TcpProbeCoordinator
{
    private readonly ConcurrentDictionary<ProbeKey, ProbeState> _probes = new();
    private readonly TimeProvider _clock;

    /// <summary>A coordinator on the system clock (the one DI makes: its only public constructor).</summary>
    public TcpProbeCoordinator()
        : this(TimeProvider.System)
    {
    }

    /// <summary>A coordinator whose <see cref="TcpShakerCheckOptions.MinimumInterval"/> is measured on <paramref name="clock"/> (tests move it instead of waiting).</summary>
    internal TcpProbeCoordinator(TimeProvider clock) => _clock = clock;

    /// <summary>Probes started so far (not joined, not reused): for tests and diagnostics.</summary>
    internal long ProbesStarted => Interlocked.Read(ref _probesStarted);

    private long _probesStarted;

    /// <summary>Checks every address of <paramref name="endpoint"/>, joining a probe in flight or reusing a recent result.</summary>
    internal Task<IReadOnlyList<TcpCheckResult>> CheckAllAddressesAsync(
        TcpShaker shaker, TcpEndpoint endpoint, AddressFamily? addressFamily, TimeSpan timeout, TimeSpan minimumInterval, CancellationToken cancellationToken)
    {
        var key = new ProbeKey(endpoint, addressFamily, timeout, shaker.Mode);
        ProbeState state = _probes.GetOrAdd(key, static _ => new ProbeState());
        Task<IReadOnlyList<TcpCheckResult>> probe;
        lock (state)
        {
            if (minimumInterval > TimeSpan.Zero && state.Last is { } last && _clock.GetElapsedTime(state.LastCompletedAt) < minimumInterval)
            {
                return Task.FromResult(last);
            }

            probe = state.InFlight ??= ProbeAsync(shaker, key, state);
        }

        return probe.WaitAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<TcpCheckResult>> ProbeAsync(TcpShaker shaker, ProbeKey key, ProbeState state)
    {
        // Return to the caller (who holds the lock and publishes this task) before doing anything,
        // so the task is published before the finally below can clear it.
        await Task.Yield();
        Interlocked.Increment(ref _probesStarted);
        try
        {
            IReadOnlyList<TcpCheckResult> results = await shaker.CheckAllAddressesAsync(key.Endpoint, key.Timeout, key.AddressFamily, CancellationToken.None).ConfigureAwait(false);
            lock (state)
            {
                state.Last = results;
                state.LastCompletedAt = _clock.GetTimestamp();
            }

            return results;
        }
        finally
        {
            lock (state)
            {
                state.InFlight = null;
            }
        }
    }

    private readonly record struct ProbeKey(TcpEndpoint Endpoint, AddressFamily? AddressFamily, TimeSpan Timeout, TcpShakerMode Mode);

    private sealed class ProbeState
    {
        internal Task<IReadOnlyList<TcpCheckResult>>? InFlight { get; set; }

        internal IReadOnlyList<TcpCheckResult>? Last { get; set; }

        internal long LastCompletedAt { get; set; }
    }
}
