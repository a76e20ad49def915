using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>The few libc calls the tests and the harness need that .NET does not expose (declared once, here).</summary>
public static partial class Native
{
    public const int CLONE_NEWNET = 0x40000000;
    public const int RLIMIT_NOFILE = 7;
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;

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

        [LibraryImport("libc")]
        internal static partial uint geteuid();
    }
}
