using System.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// Waits in epoll for a number of <see cref="Stopwatch"/> ticks, the one way both loops (half-open and
/// raw SYN) sleep. <c>epoll_pwait2</c> sleeps to the nanosecond, so a deadline fires within the kernel's
/// timer slack; where it is missing (older kernel or C library) <c>epoll_wait</c> rounds up to whole
/// milliseconds, up to 1 ms late.
/// </summary>
internal static unsafe class EpollWaiter
{
    private static bool s_precise = Environment.Is64BitProcess;

    /// <summary>Waits for at most <paramref name="ticks"/> (0: poll, -1: until an event); a signal that interrupts the wait ends it with no event.</summary>
    /// <returns>The number of events.</returns>
    /// <exception cref="InvalidOperationException">epoll failed otherwise (a bad descriptor: the loop's own bug).</exception>
    internal static int WaitForEvents(int epollFd, byte* events, int maxEvents, long ticks)
    {
        int count = Wait(epollFd, events, maxEvents, ticks);
        if (count >= 0)
        {
            return count;
        }

        int errno = Libc.LastErrno;
        return errno == Errno.EINTR ? 0 : throw new InvalidOperationException($"epoll_wait failed with errno {errno}.");
    }

    private static int Wait(int epollFd, byte* events, int maxEvents, long ticks)
    {
        if (s_precise && ticks != 0)
        {
            try
            {
                Libc.Timespec timeout = default;
                if (ticks > 0)
                {
                    long nanoseconds = Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Stopwatch.Frequency));

                    // The kernel may fire a sleep's timer late by 0.1% of its length (its timer slack: 0.5 ms
                    // on a 500 ms sleep, 5 ms on 5 s). Sleep that much less: the loop then finds the deadline
                    // not yet due and sleeps the few microseconds left, whose slack is negligible.
                    nanoseconds -= nanoseconds / 1000;
                    timeout.Seconds = nanoseconds / 1_000_000_000;
                    timeout.Nanoseconds = nanoseconds % 1_000_000_000;
                }

                int count = Libc.EpollPWait2(epollFd, events, maxEvents, ticks > 0 ? &timeout : null, null);
                if (count >= 0 || Libc.LastErrno != Errno.ENOSYS)
                {
                    return count;
                }
            }
            catch (EntryPointNotFoundException)
            {
            }

            s_precise = false;
        }

        // Round up: waking a little late is harmless, waking early spins.
        long milliseconds = ticks <= 0 ? ticks : ((ticks * 1000) + Stopwatch.Frequency - 1) / Stopwatch.Frequency;
        return Libc.EpollWait(epollFd, events, maxEvents, (int)Math.Min(milliseconds, int.MaxValue));
    }
}
