using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

/// <summary>
/// Owns an eventfd. Writers from other threads hold a reference (<see cref="SafeHandle.DangerousAddRef"/>)
/// for the length of their <c>write()</c>, so the descriptor is closed only after the last of them:
/// a wake-up racing the loop's shutdown can never write into a number the kernel has given to someone else.
/// </summary>
internal sealed class EventFdHandle : SafeHandle
{
    public EventFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == -1;

    /// <summary>Creates a non-blocking, close-on-exec eventfd.</summary>
    /// <returns>The handle, or an invalid one with <paramref name="errno"/> set.</returns>
    internal static EventFdHandle Create(out int errno)
    {
        var result = new EventFdHandle();
        int fd = Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        errno = fd < 0 ? Libc.LastErrno : 0;
        result.SetHandle(fd);
        return result;
    }

    /// <summary>The descriptor, for the owner's epoll registration and reads (the loop thread, which disposes the handle).</summary>
    internal int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
