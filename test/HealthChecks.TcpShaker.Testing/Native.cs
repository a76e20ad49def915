using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>The few libc calls the tests and the harness need that .NET does not expose (declared once, here).</summary>
public static partial class Native
{
    public const int CLONE_NEWNET = 0x40000000;
    public const int RLIMIT_NOFILE = 7;
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int AF_INET = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int IPPROTO_TCP = 6;

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    /// <summary>Moves the calling thread into the namespace <paramref name="fd"/> names; 0 or -1 with errno.</summary>
    public static int SetNs(int fd, int nstype) => Imports.setns(fd, nstype);

    public static int GetRLimit(int resource, out RLimit limit) => Imports.getrlimit(resource, out limit);

    public static int SetRLimit(int resource, in RLimit limit) => Imports.setrlimit(resource, in limit);

    public static int Open(string path, int flags) => Imports.open(path, flags);

    /// <summary>A new socket's fd, or -1 with errno (read it with <c>Marshal.GetLastPInvokeError</c>).</summary>
    public static int Socket(int domain, int type, int protocol) => Imports.socket(domain, type, protocol);

    public static int Close(int fd) => Imports.close(fd);

    public static bool IsRoot => OperatingSystem.IsLinux() && Imports.geteuid() == 0;

    private static partial class Imports
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int setns(int fd, int nstype);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int getrlimit(int resource, out Native.RLimit limit);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int setrlimit(int resource, in Native.RLimit limit);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int socket(int domain, int type, int protocol);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int close(int fd);

        [LibraryImport("libc")]
        internal static partial uint geteuid();
    }
}
