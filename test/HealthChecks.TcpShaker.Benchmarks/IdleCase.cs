using System.Diagnostics;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// A started engine with nothing to do: process CPU time and the loop thread's CPU time and
/// context switches (from /proc/self/task/TID) over an idle window, and the managed heap.
/// </summary>
internal static class IdleCase
{
    internal static async Task RunAsync(CaseSpec spec, CaseResult result)
    {
        long heapBefore = GC.GetTotalMemory(true);
        using var listener = new LoopbackListener(backlog: 4096);
        await using var shaker = new TcpShaker(new TcpShakerOptions { LoopCount = spec.Loops });
        await shaker.StartAsync();
        for (int i = 0; i < 100; i++)
        {
            await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(5));
        }

        long heapStarted = GC.GetTotalMemory(true);
        result.Extra["heap_process_bytes"] = heapStarted;
        result.Extra["heap_engine_bytes"] = heapStarted - heapBefore;

        // Let tiered compilation and the first checks' stragglers settle before the window.
        await Task.Delay(1000);
        List<int> loopThreads = CpuTime.FindThreads("TcpShaker half-");
        (long loopCpuBefore, long switchesBefore) = CpuTime.Threads(loopThreads);
        List<int> allThreads = CpuTime.FindThreads("");
        Dictionary<int, long> threadCpuBefore = allThreads.ToDictionary(t => t, t => CpuTime.Threads([t]).CpuNs);
        TimeSpan cpuBefore = CpuTime.Process();
        long started = Stopwatch.GetTimestamp();
        Thread.Sleep(spec.TimeoutMs); // the idle window; a blocking sleep keeps the harness itself quiet
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        TimeSpan cpuAfter = CpuTime.Process();
        (long loopCpuAfter, long switchesAfter) = CpuTime.Threads(loopThreads);
        // Which threads used the process's CPU during the window (the runtime's own threads, not the loop's).
        IEnumerable<string> busiest = allThreads
            .Select(t => (Thread: t, Us: (CpuTime.Threads([t]).CpuNs - threadCpuBefore[t]) / 1000.0))
            .Where(t => t.Us > 0).OrderByDescending(t => t.Us).Take(4)
            .Select(t => $"{CpuTime.ThreadName(t.Thread)} {t.Us:0} µs");
        result.Notes.Add("CPU in the idle window by thread: " + string.Join(", ", busiest));

        result.Seconds = seconds;
        result.Extra["idle_seconds"] = seconds;
        result.Extra["process_cpu_ms"] = (cpuAfter - cpuBefore).TotalMilliseconds;
        result.Extra["loop_threads"] = loopThreads.Count;
        result.Extra["loop_cpu_us"] = (loopCpuAfter - loopCpuBefore) / 1000.0;
        result.Extra["loop_wakeups"] = switchesAfter - switchesBefore;

        // What a burst leaves behind: the operation pool and in-flight table grow to the peak and stay.
        var checks = new Task<TcpCheckResult>[Math.Max(1, spec.Concurrency)];
        for (int i = 0; i < checks.Length; i++)
        {
            checks[i] = shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(5)).AsTask();
        }

        await Task.WhenAll(checks);
        checks = null;
        result.Extra["burst_checks"] = spec.Concurrency;
        result.Extra["heap_after_burst_bytes"] = GC.GetTotalMemory(true) - heapBefore;
        if (loopThreads.Count == 0)
        {
            result.Notes.Add("loop thread not found in /proc/self/task: loop CPU and wake-ups not measured");
        }
    }
}
