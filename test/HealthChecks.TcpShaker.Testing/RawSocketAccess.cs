namespace HealthChecks.TcpShaker.Testing;

/// <summary>Whether this process may open raw sockets (CAP_NET_RAW), which raw SYN mode needs.</summary>
public static class RawSocketAccess
{
    /// <summary>Why raw SYN mode cannot run here, or null when it can.</summary>
    public static string? SkipReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "raw SYN mode needs Linux";
        }

        int fd = Native.Socket(Native.AF_INET, Native.SOCK_RAW | Native.SOCK_CLOEXEC, Native.IPPROTO_TCP);
        if (fd < 0)
        {
            return $"this process may not open raw sockets (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}): raw SYN mode needs CAP_NET_RAW (CI runs as root)";
        }

        Native.Close(fd);
        return null;
    }
}
