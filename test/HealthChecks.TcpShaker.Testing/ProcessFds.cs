namespace HealthChecks.TcpShaker.Testing;

/// <summary>Counts this process's open socket descriptors from /proc/self/fd.</summary>
public static class ProcessFds
{
    public static int CountSockets() =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Count(path => new FileInfo(path).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true);

    /// <summary>Waits (bounded) until the socket count falls to at most <paramref name="expected"/>; returns the last count.</summary>
    public static async Task<int> WaitForSocketsAtMost(int expected, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        int count = CountSockets();
        while (count > expected && DateTime.UtcNow < until)
        {
            await Task.Delay(20);
            count = CountSockets();
        }

        return count;
    }
}
