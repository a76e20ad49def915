using System.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>The loop's sleep: how long, and how other threads wake it.</summary>
internal sealed unsafe partial class EpollLoop
{
    /// <summary>The epoll user data of the wake-up eventfd; socket tokens never reach it (slot and generation below 2^32 each, never both at the maximum).</summary>
    private const ulong WakeToken = ulong.MaxValue;

    /// <summary>Stopwatch ticks until the nearest deadline: 0 for at once, -1 for no deadline.</summary>
    private long WaitTimeout()
    {
        if (HasImmediateWork())
        {
            return 0;
        }

        // Arm the wake-up, then look again: a request queued between the two looks either is seen
        // here or finds the signal armed and writes the eventfd.
        _wake.Arm();
        if (HasImmediateWork() || _stopping)
        {
            _wake.Disarm();
            return 0;
        }

        long nearest = Math.Min(_deadlines.Count == 0 ? long.MaxValue : _deadlines.NearestDeadline, _watches.NextWake);
        return nearest == long.MaxValue ? -1 : Math.Max(0, nearest - Stopwatch.GetTimestamp());
    }

    private bool HasImmediateWork() =>
        _requests.Reader.TryPeek(out _) || !_cancellations.IsEmpty || _watches.HasCommands || HasLoopActions || _expiredFds.Count > 0;

    private int Wait(byte* events, long ticks) => EpollWaiter.Wait(_epollFd, events, MaxEvents, ticks);
}
