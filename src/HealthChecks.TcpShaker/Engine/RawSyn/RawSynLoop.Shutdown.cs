using System.Collections.Concurrent;
using HealthChecks.TcpShaker.Engine.Epoll;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>The loop's exit (every check completed, every descriptor and port given back) and what tests reach into.</summary>
internal sealed unsafe partial class RawSynLoop
{
    private readonly ConcurrentQueue<Action<RawSynLoop>> _loopActions = new();

    /// <summary>SYNs sent again so far. Loop thread (or after the loop stopped).</summary>
    internal long Retransmissions => Volatile.Read(ref _retransmissions);

    /// <summary>Replies read that matched no check in flight (late, duplicate, or someone else's). Loop thread.</summary>
    internal long UnmatchedReplies => Volatile.Read(ref _unmatchedReplies);

    /// <summary>Packets the reply filters let through to the loop (TCP and ICMP, matched or not). Loop thread.</summary>
    internal long RepliesRead => Volatile.Read(ref _repliesRead);

    /// <summary>The reply filters now: ranges of ports, and ports they pass that are not reserved (0: exact). Loop thread.</summary>
    internal (int Ranges, int ExtraPorts) ReplyFilterPorts => (_filtered.Count, _filtered.ExtraPorts);

    /// <summary>IPv4 route lookups made for source addresses so far (a syscall each), and the destinations cached now. Loop thread.</summary>
    internal (long Lookups, int Cached) SourceLookups => (_sources.Lookups, _sources.Count);

    /// <summary>The ports reserved now, sorted. Loop thread.</summary>
    internal ushort[] ReservedPortList()
    {
        var ports = new List<ushort>();
        _ports.CopyReservedPorts(ports);
        ports.Sort();
        return [.. ports];
    }

    /// <summary>Source ports reserved now, and the lowest and highest of them. Loop thread.</summary>
    internal (int Count, int Lowest, int Highest) ReservedPorts => (_ports.Count, _ports.Lowest, _ports.Highest);

    /// <summary>The most source ports reserved at once so far, and the most the pool may reserve. Loop thread.</summary>
    internal (int Peak, int Max) ReservedPortLimits => (_ports.Peak, _ports.MaxCount);

    /// <summary>Checks in flight now, each holding a source (a removed watch's check gives its back at once). Loop thread.</summary>
    internal int ChecksInFlight => _ports.Holding;

    /// <summary>Address lanes in use: 1, plus the loopback lanes added when the pool reached its limit. Loop thread.</summary>
    internal int SourceLanes => _ports.LaneCount;

    /// <summary>Test hook: runs <paramref name="action"/> on the loop thread between two iterations (a sleep here starves the loop).</summary>
    internal void Post(Action<RawSynLoop> action)
    {
        _loopActions.Enqueue(action);
        _wake.Signal();
    }

    private void RunLoopActions()
    {
        for (int pending = _loopActions.Count; pending > 0 && _loopActions.TryDequeue(out Action<RawSynLoop>? action); pending--)
        {
            action(this);
        }
    }

    private Exception StoppedException() => CheckErrors.LoopStopped("raw SYN loop", _fault);


    /// <summary>Completes every check still held, then closes the sockets and releases the ports (loop thread, at exit).</summary>
    private void Shutdown()
    {
        try
        {
            _completions.Flush(); // results the loop had when it faulted: delivered first, not lost
            _inbox.Close();
            for (int slot = 0; slot < _inFlight.Capacity; slot++)
            {
                if (_inFlight[slot].Check is not null)
                {
                    _accounting.Abandon(Release(slot), StoppedException());
                }
            }

            while (_loopActions.TryDequeue(out _))
            {
            }

            _watches.Drop(StoppedException());

            _ports.Dispose();
            _sources.Dispose();
            foreach (int fd in (ReadOnlySpan<int>)[_tcp4, _tcp6, _icmp4, _icmp6])
            {
                if (fd >= 0)
                {
                    Libc.Close(fd);
                }
            }

            _sendV4.Dispose();
            _sendV6.Dispose();
            _receive.Dispose();
            _wake.Dispose();
            Libc.Close(_epollFd);
            _stopped.TrySetResult();
        }
        catch (Exception exception)
        {
            _fault ??= exception;
            _stopped.TrySetException(exception);
        }
    }
}
