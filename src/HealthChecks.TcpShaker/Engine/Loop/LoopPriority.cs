using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// Raises the calling thread's scheduling priority (<see cref="TcpShakerOptions.RaiseLoopPriority"/>):
/// <c>setpriority</c> on its thread id, which on Linux sets that thread's nice value alone.
/// </summary>
internal static class LoopPriority
{
    /// <summary>The nice value asked for: measured, a connect-based checker at -10 leaked no ACK under the 64-process starvation that made it leak thousands at 0.</summary>
    internal const int Nice = -10;

    /// <summary>Raises the calling thread's priority; returns 0, or the errno that refused it (EACCES or EPERM without CAP_SYS_NICE).</summary>
    internal static int TryRaise()
    {
        try
        {
            return Libc.SetPriority(Libc.PRIO_PROCESS, Libc.GetTid(), Nice) == 0 ? 0 : Libc.LastErrno;
        }
        catch (EntryPointNotFoundException)
        {
            return Errno.ENOSYS; // a C library without gettid (glibc before 2.30)
        }
    }
}
