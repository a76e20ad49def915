using System.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>Ending checks the network did not end: deadlines, and the closing of their sockets (cancellations come through the loop).</summary>
internal sealed unsafe partial class HalfOpenTransport
{
    private const int MaxClosesPerIteration = 256;

    private readonly Queue<int> _expiredFds = new();

    /// <inheritdoc/>
    public bool HasPendingWork => _expiredFds.Count > 0;

    /// <inheritdoc/>
    public void Expire(long now)
    {
        ExpireDeadlines(now);
        CloseExpiredSockets();
    }

    /// <inheritdoc/>
    public void Close()
    {
        while (_expiredFds.TryDequeue(out int fd))
        {
            Libc.Close(fd);
        }
    }

    private void ExpireDeadlines(long now)
    {
        // Answer every check that is due now, and leave the closing of their sockets to
        // CloseExpiredSockets. Closing a socket that is still connecting costs about 5 µs, and checks
        // started together time out together: closing inline, the last of 10,000 would be answered
        // some 50 ms late. The fds stay ours until closed (no number can be reused meanwhile), and
        // their stale epoll events no longer resolve to a slot.
        while (_deadlines.Count > 0 && _deadlines.NearestDeadline <= now)
        {
            int slot = _deadlines.NearestSlot;
            _expiredFds.Enqueue(_inFlight[slot].Fd);
            LoopCheck check = _loop.Remove(slot);
            _accounting.Complete(check, CheckErrors.DeadlineReached(check.EndPoint, Stopwatch.GetElapsedTime(check.RequestedAt)));
        }
    }

    /// <summary>
    /// Closes up to <see cref="MaxClosesPerIteration"/> sockets of timed-out checks, oldest first, so a
    /// wave of timeouts never keeps the loop from its events and deadlines for more than about a
    /// millisecond. The queue drains at that rate between the loop's other work (10,000 timeouts in
    /// some 60 ms); only a SYN-ACK arriving after its check timed out could meet a socket waiting here,
    /// and its delayed ACK (200 ms) still loses to the RST of the close.
    /// </summary>
    private void CloseExpiredSockets()
    {
        for (int closed = 0; closed < MaxClosesPerIteration && _expiredFds.TryDequeue(out int fd); closed++)
        {
            Libc.Close(fd);

            // Deadlines come first: stop when one falls due, the next iteration answers it and goes on closing.
            if ((closed & 15) == 15 && _deadlines.Count > 0 && _deadlines.NearestDeadline <= Stopwatch.GetTimestamp())
            {
                return;
            }
        }
    }
}
