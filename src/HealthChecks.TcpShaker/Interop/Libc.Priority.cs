using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

/// <summary>Thread ids and scheduling priority (<see cref="TcpShakerOptions.RaiseLoopPriority"/>).</summary>
internal static partial class Libc
{
    /// <summary><c>setpriority</c>'s <c>which</c> for a process id; on Linux a thread id names that thread alone.</summary>
    internal const int PRIO_PROCESS = 0;

    /// <summary>The calling thread's kernel id (glibc 2.30 or later; older ones throw <see cref="EntryPointNotFoundException"/>).</summary>
    [LibraryImport(LibraryName, EntryPoint = "gettid")]
    internal static partial int GetTid();

    [LibraryImport(LibraryName, EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int SetPriority(int which, int who, int priority);
}
