using System.Diagnostics;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>The loop's sleep: how long, and how other threads wake it.</summary>
internal sealed unsafe partial class CheckLoop
{
    /// <summary>
    /// The epoll user data of the wake-up eventfd. No transport's token reaches it: a half-open socket's packs
    /// a slot and a generation below 2^32 each (never both at the maximum), the raw sockets' are 1 to 4.
    /// </summary>
    private const ulong WakeToken = ulong.MaxValue;

    /// <summary>Stopwatch ticks until the nearest deadline, due watch or transport's own wake: 0 for at once, -1 for none.</summary>
    private long WaitTimeout()
    {
        if (!_inbox.TryPrepareToSleep(_hasLoopWork))
        {
            return 0;
        }

        long now = Stopwatch.GetTimestamp();
        long nearest = Math.Min(_deadlines.Count == 0 ? long.MaxValue : _deadlines.NearestDeadline, _watches.NextWake);
        nearest = Math.Min(nearest, _transport.NextWake(now));
        return nearest == long.MaxValue ? -1 : Math.Max(0, nearest - now);
    }

    /// <summary>Work of the loop's own that waits for it beside the inbox's.</summary>
    private bool HasLoopWork() => _watches.HasCommands || HasLoopActions || _transport.HasPendingWork;

    private int Wait(byte* events, int maxEvents, long ticks) => EpollWaiter.WaitForEvents(_epollFd, events, maxEvents, ticks);
}
