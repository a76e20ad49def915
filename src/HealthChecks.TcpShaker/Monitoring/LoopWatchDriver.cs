using System.Collections.Concurrent;
using System.Net;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// Runs watches of IP addresses in the engine's loops (half-open: spread round-robin; raw SYN: its one loop).
/// When a loop stops under its watches (a fault, or the engine's stop), it hands them back to the monitor.
/// </summary>
internal sealed class LoopWatchDriver(IWatchEngine engine, IHealthChangeSink sink) : IWatchDriver, IWatchProbeOwner
{
    /// <inheritdoc/>
    public Task<IWatchDriver?> Attached => field ??= Task.FromResult<IWatchDriver?>(this);

    private readonly ConcurrentDictionary<TcpWatch, WatchProbe> _probes = new();
    private uint _next;

    /// <summary>Whether this driver can run <paramref name="watch"/>: an IP literal of the family asked for.</summary>
    internal static bool CanRun(TcpWatch watch) =>
        watch.Endpoint.Address is { } address
        && (watch.Options.AddressFamily is null || watch.Options.AddressFamily == address.AddressFamily);

    /// <summary>The watches it runs.</summary>
    internal int Count => _probes.Count;

    public bool Add(TcpWatch watch)
    {
        var probe = new WatchProbe(watch, new IPEndPoint(watch.Endpoint.Address!, watch.Endpoint.Port), this);
        _probes[watch] = probe;
        IReadOnlyList<LoopWatches> loops = engine.LoopWatches;
        loops[(int)(Interlocked.Increment(ref _next) % (uint)loops.Count)].Add(probe);
        return true;
    }

    public async ValueTask RemoveAsync(TcpWatch watch)
    {
        if (_probes.TryRemove(watch, out WatchProbe? probe))
        {
            await probe.Watches!.RemoveAsync(probe).ConfigureAwait(false);
        }
    }

    void IWatchProbeOwner.Publish(TcpHealthChange change) => sink.Publish(change);

    void IWatchProbeOwner.LoopStopped(WatchProbe probe, Exception stopped)
    {
        if (_probes.TryRemove(new KeyValuePair<TcpWatch, WatchProbe>(probe.Watch, probe)))
        {
            sink.ChecksStopped(probe.Watch, engine, stopped);
        }
    }
}
