using System.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// Wakes a loop blocked in <c>epoll_wait</c>: any thread signals, the loop drains. Only a loop that
/// is about to block (or is blocked) needs the syscall, so the loop arms the signal before it sleeps
/// and a signal writes only when it finds it armed. After <see cref="Dispose"/> a signal writes nothing.
/// </summary>
internal sealed unsafe class WakeSignal : IDisposable
{
    private readonly EventFdHandle _handle;
    private int _armed;

    private WakeSignal(EventFdHandle handle) => _handle = handle;

    /// <summary>Creates the eventfd.</summary>
    /// <exception cref="EngineStartException">No eventfd could be made.</exception>
    internal static WakeSignal Create()
    {
        EventFdHandle handle = EventFdHandle.Create(out int errno);
        if (handle.IsInvalid)
        {
            handle.Dispose();
            throw new EngineStartException("eventfd", errno);
        }

        return new WakeSignal(handle);
    }

    /// <summary>The descriptor to register with epoll (loop thread).</summary>
    internal int Fd => _handle.Fd;

    /// <summary>Arms the signal: the loop is about to block. Loop thread.</summary>
    internal void Arm() => Interlocked.Exchange(ref _armed, 1);

    /// <summary>Disarms it: the loop is awake. Loop thread.</summary>
    internal void Disarm() => Volatile.Write(ref _armed, 0);

    /// <summary>Wakes the loop if it is armed. Any thread.</summary>
    internal void Signal()
    {
        if (Interlocked.Exchange(ref _armed, 0) != 1)
        {
            return;
        }

        bool referenced = false;
        try
        {
            _handle.DangerousAddRef(ref referenced);
        }
        catch (ObjectDisposedException)
        {
            return; // the loop has shut down: nobody to wake, and the number may belong to someone else now
        }

        try
        {
            ulong one = 1;
            nint written = Libc.Write(_handle.Fd, &one, sizeof(ulong));

            // EAGAIN would mean the counter is at its maximum: the loop is awake anyway.
            Debug.Assert(written == sizeof(ulong) || Libc.LastErrno == Errno.EAGAIN, $"eventfd write failed: errno {Libc.LastErrno}");
        }
        finally
        {
            _handle.DangerousRelease();
        }
    }

    /// <summary>Resets the counter after epoll reported the eventfd readable. Loop thread.</summary>
    internal void Drain()
    {
        ulong value;
        nint read = Libc.Read(_handle.Fd, &value, sizeof(ulong));

        // EAGAIN: another drain already took it (the loop was woken twice in one pass).
        Debug.Assert(read == sizeof(ulong) || Libc.LastErrno == Errno.EAGAIN, $"eventfd read failed: errno {Libc.LastErrno}");
    }

    /// <summary>Closes the eventfd once no signal is writing to it. Loop thread, at shutdown.</summary>
    public void Dispose() => _handle.Dispose();
}
