using System.Globalization;
using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// CPU time, which other work on a shared machine disturbs far less than wall-clock rates: of this
/// process, of its reaped children (getrusage), and of named threads (/proc/self/task/TID/schedstat).
/// </summary>
internal static partial class CpuTime
{
    /// <summary>This process's user plus system CPU time.</summary>
    internal static TimeSpan Process()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>User plus system CPU time of every child this process has waited for (RUSAGE_CHILDREN).</summary>
    internal static unsafe TimeSpan ReapedChildren()
    {
        long* usage = stackalloc long[18]; // struct rusage: two timevals, then 14 longs
        if (GetRUsage(-1, usage) != 0)
        {
            return TimeSpan.Zero;
        }

        long microseconds = (usage[0] * 1_000_000) + usage[1] + (usage[2] * 1_000_000) + usage[3];
        return TimeSpan.FromMicroseconds(microseconds);
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static unsafe partial int GetRUsage(int who, long* usage);

    /// <summary>The ids of this process's threads whose name starts with <paramref name="namePrefix"/>.</summary>
    internal static List<int> FindThreads(string namePrefix)
    {
        var found = new List<int>();
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(namePrefix, StringComparison.Ordinal))
                {
                    found.Add(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // the thread exited
            }
        }

        return found;
    }

    /// <summary>Nanoseconds the threads spent runnable but waiting for a CPU (schedstat's second field).</summary>
    internal static long RunQueueWait(List<int> threads)
    {
        long wait = 0;
        foreach (int tid in threads)
        {
            try
            {
                wait += long.Parse(File.ReadAllText($"/proc/self/task/{tid}/schedstat").Split(' ')[1], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the thread exited
            }
        }

        return wait;
    }

    /// <summary>CPU nanoseconds (schedstat) and context switches (status; only the voluntary ones, the thread's own waits, if asked) summed over the threads.</summary>
    internal static (long CpuNs, long Switches) Threads(List<int> threads, bool voluntaryOnly = false)
    {
        long cpu = 0;
        long switches = 0;
        foreach (int tid in threads)
        {
            string dir = $"/proc/self/task/{tid}";
            try
            {
                cpu += long.Parse(File.ReadAllText($"{dir}/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);
                foreach (string line in File.ReadAllLines($"{dir}/status"))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)
                        || (!voluntaryOnly && line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal)))
                    {
                        switches += long.Parse(line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim(), CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // the thread exited
            }
        }

        return (cpu, switches);
    }

    internal static string ThreadName(int tid)
    {
        try
        {
            return File.ReadAllText($"/proc/self/task/{tid}/comm").Trim();
        }
        catch (IOException)
        {
            return tid.ToString(CultureInfo.InvariantCulture);
        }
    }
}
