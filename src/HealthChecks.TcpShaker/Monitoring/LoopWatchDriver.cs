using System.Collections.Concurrent;
using System.Net;
using HealthChecks.TcpShaker.Engine.Epoll;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>Runs watches of IP addresses on the half-open engine's loops, spread round-robin.</summary>
internal sealed class LoopWatchDriver(HalfOpenEngine engine, IHealthChangeSink sink) : IWatchDriver
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
        IReadOnlyList<EpollLoop> loops = engine.Loops;
        loops[(int)(Interlocked.Increment(ref _next) % (uint)loops.Count)].AddWatch(probe);
    }

    public async ValueTask RemoveAsync(TcpWatch watch)
    {
        if (_probes.TryRemove(watch, out WatchProbe? probe))
        {
            await probe.Loop!.RemoveWatchAsync(probe).ConfigureAwait(false);
        }
    }
}
