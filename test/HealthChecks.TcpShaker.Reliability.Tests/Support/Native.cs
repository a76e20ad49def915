using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>The few libc calls the tests need that .NET does not expose.</summary>
internal static partial class Native
{
    internal const int CLONE_NEWNET = 0x40000000;
    internal const int RLIMIT_NOFILE = 7;
    internal const int O_RDONLY = 0;
    internal const int O_CLOEXEC = 0x80000;

    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setrlimit(int resource, in RLimit limit);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    internal static partial uint GetEuid();

    internal static bool IsRoot => OperatingSystem.IsLinux() && GetEuid() == 0;
}
