using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

internal static partial class Libc
{
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1;
    internal const uint EPOLLIN = 0x001;
    internal const uint EPOLLOUT = 0x004;
    internal const uint EPOLLERR = 0x008;
    internal const uint EPOLLHUP = 0x010;
    internal const uint EPOLLET = 1u << 31;

    [LibraryImport(LibraryName, EntryPoint = "epoll_create1", SetLastError = true)]
    internal static partial int EpollCreate1(int flags);

    // epollEvent: one record laid out as EpollEvent describes.
    [LibraryImport(LibraryName, EntryPoint = "epoll_ctl", SetLastError = true)]
    internal static unsafe partial int EpollCtl(int epfd, int op, int fd, byte* epollEvent);

    // events: a buffer of maxEvents records of EpollEvent.Size bytes.
    [LibraryImport(LibraryName, EntryPoint = "epoll_wait", SetLastError = true)]
    internal static unsafe partial int EpollWait(int epfd, byte* events, int maxEvents, int timeoutMilliseconds);

    /// <summary><c>struct timespec</c> on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        internal long Seconds;
        internal long Nanoseconds;
    }

    // epoll_wait with a nanosecond timeout (Linux 5.11, glibc 2.35); timeout null waits forever.
    [LibraryImport(LibraryName, EntryPoint = "epoll_pwait2", SetLastError = true)]
    internal static unsafe partial int EpollPWait2(int epfd, byte* events, int maxEvents, Timespec* timeout, void* sigmask);
}

/// <summary>
/// <c>struct epoll_event</c>: a 32-bit event mask then 64 bits of user data. The kernel declares it
/// packed on x86 (12 bytes, data at offset 4) and naturally aligned elsewhere (16 bytes, data at
/// offset 8), so the layout is chosen once per process rather than baked into one C# struct.
/// </summary>
internal static unsafe class EpollEvent
{
    /// <summary>Whether this architecture uses the packed layout.</summary>
    internal static readonly bool IsPacked =
        RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86;

    /// <summary>Bytes per record.</summary>
    internal static readonly int Size = IsPacked ? 12 : 16;

    /// <summary>Offset of the user data field.</summary>
    internal static readonly int DataOffset = IsPacked ? 4 : 8;

    internal static void Write(byte* record, uint events, ulong data)
    {
        *(uint*)record = events;
        Unsafe.WriteUnaligned(record + DataOffset, data);
    }

    internal static uint ReadEvents(byte* buffer, int index) => *(uint*)(buffer + (index * Size));

    internal static ulong ReadData(byte* buffer, int index) =>
        Unsafe.ReadUnaligned<ulong>(buffer + (index * Size) + DataOffset);
}
