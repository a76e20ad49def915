using System.Collections.Concurrent;
using System.Net;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.Epoll;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>Runs watches of IP addresses in the engine's loops (half-open: spread round-robin; raw SYN: its one loop).</summary>
internal sealed class LoopWatchDriver(IWatchEngine engine, IHealthChangeSink sink) : IWatchDriver
{
    private readonly ConcurrentDictionary<TcpWatch, WatchProbe> _probes = new();
    private uint _next;

    /// <summary>Whether this driver can run <paramref name="watch"/>: an IP literal of the family asked for.</summary>
    internal static bool CanRun(TcpWatch watch) =>
        watch.Endpoint.Address is { } address
        && (watch.Options.AddressFamily is null || watch.Options.AddressFamily == address.AddressFamily);

    public void Add(TcpWatch watch)
    {
        var probe = new WatchProbe(watch, new IPEndPoint(watch.Endpoint.Address!, watch.Endpoint.Port), sink);
        _probes[watch] = probe;
        IReadOnlyList<LoopWatches> loops = engine.LoopWatches;
        loops[(int)(Interlocked.Increment(ref _next) % (uint)loops.Count)].Add(probe);
    }

    public async ValueTask RemoveAsync(TcpWatch watch)
    {
        if (_probes.TryRemove(watch, out WatchProbe? probe))
        {
            await probe.Watches!.RemoveAsync(probe).ConfigureAwait(false);
        }
    }
}
