using System.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>The loop's sleep: how long, and how other threads wake it.</summary>
internal sealed unsafe partial class EpollLoop
{
    /// <summary>The epoll user data of the wake-up eventfd; socket tokens never reach it (slot and generation below 2^32 each, never both at the maximum).</summary>
    private const ulong WakeToken = ulong.MaxValue;

    /// <summary>Stopwatch ticks until the nearest deadline or due watch: 0 for at once, -1 for none.</summary>
    private long WaitTimeout()
    {
        if (!_inbox.TryPrepareToSleep(_hasLoopWork))
        {
            return 0;
        }

        long nearest = Math.Min(_deadlines.Count == 0 ? long.MaxValue : _deadlines.NearestDeadline, _watches.NextWake);
        return nearest == long.MaxValue ? -1 : Math.Max(0, nearest - Stopwatch.GetTimestamp());
    }

    /// <summary>Work of the loop's own that waits for it beside the inbox's.</summary>
    private bool HasLoopWork() => _watches.HasCommands || HasLoopActions || _expiredFds.Count > 0;

    private int Wait(byte* events, long ticks) => EpollWaiter.WaitForEvents(_epollFd, events, MaxEvents, ticks);
}
