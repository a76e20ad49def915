using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

/// <summary>
/// Every libc call the library makes, one file per area (sockets, raw sockets, epoll, eventfd, TCP_INFO,
/// thread priority): no P/Invoke lives outside this folder.
/// Constants are Linux's; they are the same on x86_64 and arm64.
/// </summary>
internal static partial class Libc
{
    private const string LibraryName = "libc";

    /// <summary>The errno of the last failed call made through this class on this thread.</summary>
    internal static int LastErrno => Marshal.GetLastPInvokeError();

    [LibraryImport(LibraryName, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(LibraryName, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport(LibraryName, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, void* buffer, nuint count);
}
