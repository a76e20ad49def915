using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// The monitoring rows (issue 10, "Scale and cost"): many listeners (listeners.c) in this row's network
/// namespace, each checked once an interval by one checker, and what that costs the checking process
/// per check; the spread of the SYNs; time to detect targets going down and up. The child runs inside
/// the namespace, so /proc/net/* and iptables here are the namespace's.
/// </summary>
internal static class MonitorCases
{
    /// <summary>Before the window: the engine started, the first rounds spread, tiered JIT settled.</summary>
    private const int WarmupMs = 4_000;

    /// <summary>SYNs captured with tcpdump after the window (the capture costs the sender CPU, so not during it).</summary>
    private const int CaptureSeconds = 4;

    private static readonly string[] s_windowCounters =
        ["TcpActiveOpens", "TcpPassiveOpens", "TcpExtDelayedACKs", "TcpExtEmbryonicRsts", "TcpRetransSegs", "TcpOutRsts", "TcpExtListenOverflows", "TcpExtTCPTimeouts"];

    internal static async Task RunCostAsync(CaseSpec spec, CaseResult result)
    {
        int perAddress = spec.Targets / spec.Addresses;
        using Process listeners = spec.Addresses > 1 ? StartWildcardListeners(spec.BasePort, perAddress) : StartListeners(spec, spec.Targets);
        try
        {
            Func<double> cpuSeconds;
            Func<long>? ownChecks = null;
            Process? checker = null;
            TcpShaker? shaker = null;
            TcpShakerMonitor? monitor = null;
            long heapBeforeWatches = 0;
            List<int> loopThreads = [];
            int totalSeconds = (WarmupMs / 1000) + spec.DurationS + CaptureSeconds + 3;
            switch (spec.Kind)
            {
                case CaseKind.MonitorShaker:
                    shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = spec.RawSyn });
                    await CaseRunner.StartInModeAsync(shaker, spec, result);
                    heapBeforeWatches = GC.GetTotalMemory(forceFullCollection: true);
                    monitor = new TcpShakerMonitor(shaker, new TcpWatchOptions
                    {
                        Interval = TimeSpan.FromMilliseconds(spec.IntervalMs),
                        Timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs),
                        FastInterval = spec.FastIntervalMs > 0 ? TimeSpan.FromMilliseconds(spec.FastIntervalMs) : null,
                        Jitter = spec.Jitter,
                    });
                    var watches = new TcpWatch[spec.Targets];
                    for (int i = 0; i < spec.Targets; i++)
                    {
                        int address = 1 + (i / perAddress); // 127.0.0.1 on
                        watches[i] = monitor.Watch($"127.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}:{spec.BasePort + (i % perAddress)}");
                    }

                    cpuSeconds = () => CpuTime.Process().TotalSeconds;
                    ownChecks = () => watches.Sum(w => w.Checks);
                    break;
                case CaseKind.MonitorHaproxy:
                    string config = WriteHaproxyConfig(spec);
                    checker = ChildProcess.StartDrained("haproxy", ["-f", config, "-db"]);
                    cpuSeconds = () => ChildProcess.CpuSeconds(checker.Id);
                    result.Notes.Add($"haproxy -f {Path.GetFileName(config)} -db: one backend of {spec.Targets} servers, default-server check inter {spec.IntervalMs}ms, nbthread 1, spread-checks {spec.Spread}, timeout check {spec.TimeoutMs}ms");
                    break;
                case CaseKind.MonitorPaced:
                    checker = ChildProcess.StartDrained(spec.PacedPath!, [spec.Mode!, Num(spec.BasePort), Num(spec.Targets), Num(totalSeconds)]);
                    cpuSeconds = () => ChildProcess.CpuSeconds(checker.Id);
                    result.Notes.Add($"paced {spec.Mode} {spec.BasePort} {spec.Targets} {totalSeconds}");
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "not a monitoring cost row");
            }

            try
            {
                await Task.Delay(WarmupMs);
                if (checker is { HasExited: true })
                {
                    throw new InvalidOperationException($"{checker.StartInfo.FileName} exited with {checker.ExitCode} during the warm-up: {ChildProcess.Output(checker)}");
                }

                if (monitor is not null)
                {
                    // The managed heap a watch holds once it runs (each checked by now: the first rounds spread over the
                    // interval): the monitor, the watches, the loop's schedule and tables.
                    result.Extra["bytes_per_watch"] = (double)(GC.GetTotalMemory(forceFullCollection: true) - heapBeforeWatches) / spec.Targets;
                    result.Extra["watches_checked_before_window"] = monitor.Watches.Count(w => w.Checks > 0);
                }

                loopThreads = CpuTime.FindThreads(spec.LoopThreadName);
                (long loopCpu0, _) = CpuTime.Threads(loopThreads);
                long loopWaits0 = CpuTime.Threads(loopThreads, voluntaryOnly: true).Switches;
                long allocated0 = GC.GetTotalAllocatedBytes(true);
                int gc0 = GC.CollectionCount(0);
                Dictionary<string, long> before = ReadCounters();
                long own0 = ownChecks?.Invoke() ?? 0;
                double cpu0 = cpuSeconds();
                long started = Stopwatch.GetTimestamp();

                Thread.Sleep(spec.DurationS * 1000); // a blocking sleep: the harness adds nothing to the window

                double cpu1 = cpuSeconds();
                result.Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                long own1 = ownChecks?.Invoke() ?? 0;
                Dictionary<string, long> after = ReadCounters();
                long allocated1 = GC.GetTotalAllocatedBytes(true);
                (long loopCpu1, _) = CpuTime.Threads(loopThreads);
                long loopWaits1 = CpuTime.Threads(loopThreads, voluntaryOnly: true).Switches;

                result.WindowCounters = s_windowCounters.ToDictionary(n => n, n => after.GetValueOrDefault(n) - before.GetValueOrDefault(n));
                // A raw SYN is no active open of the kernel's: in raw SYN mode the SYNs are the monitor's own checks (the targets listen, so none is sent again).
                long syns = spec.RawSyn ? own1 - own0 : result.WindowCounters["TcpActiveOpens"];
                result.Completed = (int)syns;
                result.ChecksPerSecond = syns / result.Seconds;
                result.Extra["cpu_us_per_check"] = (cpu1 - cpu0) * 1e6 / syns;
                result.Extra["cpu_percent_of_a_core"] = (cpu1 - cpu0) * 100 / result.Seconds;
                if (ownChecks is not null)
                {
                    result.Extra["monitor_checks"] = own1 - own0;
                    result.Extra["bytes_per_check"] = (double)(allocated1 - allocated0) / (own1 - own0);
                    result.Extra["gen0_collections"] = GC.CollectionCount(0) - gc0;
                    result.Extra["loop_cpu_us_per_check"] = (loopCpu1 - loopCpu0) / 1000.0 / (own1 - own0);
                    result.Extra["loop_waits_per_check"] = (double)(loopWaits1 - loopWaits0) / (own1 - own0);
                }

                if (checker is { HasExited: true })
                {
                    throw new InvalidOperationException($"{checker.StartInfo.FileName} exited with {checker.ExitCode} during the window: {ChildProcess.Output(checker)}");
                }

                CaptureSyns(result);
                result.Extra["time_wait"] = SocketStates.Count("time-wait");
                result.Extra["fin_wait_2"] = SocketStates.Count("fin-wait-2");
                if (monitor is not null)
                {
                    result.Extra["watches_up"] = monitor.Watches.Count(w => w.Health == TcpTargetHealth.Up);
                }
            }
            finally
            {
                if (checker is not null)
                {
                    ChildProcess.Stop(checker);
                    checker.Dispose();
                }

                if (monitor is not null)
                {
                    await monitor.DisposeAsync();
                }

                if (shaker is not null)
                {
                    await shaker.DisposeAsync();
                }
            }
        }
        finally
        {
            ChildProcess.Stop(listeners);
        }
    }

    /// <summary>
    /// 10% of the targets go down, half by an iptables DROP of their ports (each check times out), half by
    /// closing their listening sockets (each check is refused), then come back; the time from each fault
    /// to each watch's HealthChanged event (its <c>At</c>).
    /// </summary>
    internal static async Task RunDetectionAsync(CaseSpec spec, CaseResult result)
    {
        int faulty = spec.Targets / 10;
        int dropped = faulty / 2;
        int closed = faulty - dropped;
        int external = spec.Targets - closed; // listeners.c serves [base, base + external); this process the rest
        using Process listeners = StartListeners(spec, external);
        var own = new Socket?[closed];
        try
        {
            for (int i = 0; i < closed; i++)
            {
                own[i] = Listen(spec.BasePort + external + i);
            }

            var options = new TcpWatchOptions
            {
                Interval = TimeSpan.FromMilliseconds(spec.IntervalMs),
                Timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs),
                FastInterval = spec.FastIntervalMs > 0 ? TimeSpan.FromMilliseconds(spec.FastIntervalMs) : null,
            };
            result.Notes.Add($"Interval {spec.IntervalMs} ms, Timeout {spec.TimeoutMs} ms, Rise {options.Rise}, Fall {options.Fall}, FastInterval {(spec.FastIntervalMs > 0 ? spec.FastIntervalMs + " ms" : "none")}; {dropped} targets dropped by iptables, {closed} closed");
            var changes = new ConcurrentQueue<(int Port, TcpTargetHealth Current, DateTimeOffset At)>();
            await using var shaker = new TcpShaker();
            await shaker.StartAsync();
            await using var monitor = new TcpShakerMonitor(shaker, options);
            monitor.HealthChanged += (_, change) => changes.Enqueue((change.Watch.Endpoint.Port, change.Current, change.At));
            var watches = new TcpWatch[spec.Targets];
            for (int i = 0; i < spec.Targets; i++)
            {
                watches[i] = monitor.Watch($"127.0.0.1:{spec.BasePort + i}");
            }

            await WaitUntil(() => watches.All(w => w.Health == TcpTargetHealth.Up), 20_000, "every watch Up at the start");
            await Task.Delay(1_000);
            changes.Clear();

            bool IsDropped(int port) => port >= spec.BasePort && port < spec.BasePort + dropped;
            bool IsClosed(int port) => port >= spec.BasePort + external;
            string dropRule = $"{spec.BasePort}:{spec.BasePort + dropped - 1}";

            // Down: close the ports, then drop the others; each fault's moment is when it was in place.
            long closeStart = Stopwatch.GetTimestamp();
            foreach (Socket? socket in own)
            {
                socket!.Dispose();
            }

            DateTimeOffset closedAt = DateTimeOffset.UtcNow;
            result.Extra["close_ms"] = Stopwatch.GetElapsedTime(closeStart).TotalMilliseconds;
            long dropStart = Stopwatch.GetTimestamp();
            Iptables.DropTcp("-A", dropRule);
            DateTimeOffset droppedAt = DateTimeOffset.UtcNow;
            result.Extra["iptables_ms"] = Stopwatch.GetElapsedTime(dropStart).TotalMilliseconds;

            int faultBoundMs = (options.Fall * spec.IntervalMs) + spec.TimeoutMs + 3_000;
            await WaitUntil(() => watches.Count(w => w.Health == TcpTargetHealth.Down) >= faulty, faultBoundMs, "every faulty watch Down");
            await Task.Delay(500);
            List<(int Port, TcpTargetHealth Current, DateTimeOffset At)> downEvents = [.. changes];
            changes.Clear();

            // Up: listen again, then remove the rule.
            long reopenStart = Stopwatch.GetTimestamp();
            for (int i = 0; i < closed; i++)
            {
                own[i] = Listen(spec.BasePort + external + i);
            }

            DateTimeOffset reopenedAt = DateTimeOffset.UtcNow;
            result.Extra["reopen_ms"] = Stopwatch.GetElapsedTime(reopenStart).TotalMilliseconds;
            long undropStart = Stopwatch.GetTimestamp();
            Iptables.DropTcp("-D", dropRule);
            DateTimeOffset undroppedAt = DateTimeOffset.UtcNow;
            result.Extra["iptables_delete_ms"] = Stopwatch.GetElapsedTime(undropStart).TotalMilliseconds;

            int upBoundMs = (options.Rise * spec.IntervalMs) + 3_000;
            await WaitUntil(() => watches.All(w => w.Health == TcpTargetHealth.Up), upBoundMs, "every watch Up again");
            await Task.Delay(500);
            List<(int Port, TcpTargetHealth Current, DateTimeOffset At)> upEvents = [.. changes];

            double[] Times(List<(int Port, TcpTargetHealth Current, DateTimeOffset At)> events, TcpTargetHealth current, Func<int, bool> group, DateTimeOffset fault) =>
                [.. events.Where(e => e.Current == current && group(e.Port)).Select(e => (e.At - fault).TotalMilliseconds)];

            result.DetectionMs = new Dictionary<string, Percentiles>();
            void Add(string name, double[] times)
            {
                if (Percentiles.Of(times) is { } p)
                {
                    result.DetectionMs[name] = p;
                }
            }

            Add("down, iptables DROP (timeouts)", Times(downEvents, TcpTargetHealth.Down, IsDropped, droppedAt));
            Add("down, port closed (refused)", Times(downEvents, TcpTargetHealth.Down, IsClosed, closedAt));
            Add("up, DROP removed", Times(upEvents, TcpTargetHealth.Up, IsDropped, undroppedAt));
            Add("up, port listening again", Times(upEvents, TcpTargetHealth.Up, IsClosed, reopenedAt));
            result.Extra["false_transitions"] = downEvents.Concat(upEvents).Count(e => !IsDropped(e.Port) && !IsClosed(e.Port));
            result.Extra["down_events"] = downEvents.Count(e => e.Current == TcpTargetHealth.Down);
            result.Extra["up_events"] = upEvents.Count(e => e.Current == TcpTargetHealth.Up);
            result.Extra["goal_down_ms"] = spec.FastIntervalMs > 0
                ? spec.IntervalMs + ((options.Fall - 1) * spec.FastIntervalMs) + spec.TimeoutMs + 10
                : (options.Fall * spec.IntervalMs) + spec.TimeoutMs + 10;
            result.Completed = (int)watches.Sum(w => w.Checks);
        }
        finally
        {
            foreach (Socket? socket in own)
            {
                socket?.Dispose();
            }

            ChildProcess.Stop(listeners);
        }
    }

    private static Socket Listen(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen(1024);
        return socket;
    }

    private static async Task WaitUntil(Func<bool> condition, int timeoutMs, string what)
    {
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start).TotalMilliseconds > timeoutMs)
            {
                throw new TimeoutException($"not reached within {timeoutMs} ms: {what}");
            }

            await Task.Delay(20);
        }
    }

    internal static Process StartListeners(CaseSpec spec, int count)
    {
        if (spec.ListenersPath is null || !File.Exists(spec.ListenersPath))
        {
            throw new FileNotFoundException("The compiled listeners.c is missing.", spec.ListenersPath);
        }

        return ChildProcess.StartWhenReady([spec.ListenersPath, Num(spec.BasePort), Num(count), "1024"], "listeners");
    }

    /// <summary>
    /// The scale row's targets: listeners on the wildcard address (listeners.c binds 127.0.0.1 only), so each serves
    /// its port on every loopback address (100,000 targets on 10,000 addresses are 10 listening sockets), in this
    /// harness's <c>--listeners</c> mode.
    /// </summary>
    private static Process StartWildcardListeners(int basePort, int count) =>
        ChildProcess.StartWhenReady([.. Orchestrator.ChildCommand(), "--listeners", "0.0.0.0", Num(basePort), Num(count), "1024"], "the wildcard listeners");

    internal static Dictionary<string, long> ReadCounters() =>
        KernelCounters.Parse(File.ReadAllText("/proc/net/snmp") + File.ReadAllText("/proc/net/netstat"));

    private static string WriteHaproxyConfig(CaseSpec spec)
    {
        var config = new StringBuilder();
        config.AppendLine("global");
        config.AppendLine("    nbthread 1");
        config.AppendLine(CultureInfo.InvariantCulture, $"    spread-checks {spec.Spread}");
        config.AppendLine("    maxconn 200");
        config.AppendLine("defaults");
        config.AppendLine("    mode tcp");
        config.AppendLine(CultureInfo.InvariantCulture, $"    timeout connect {spec.TimeoutMs}ms");
        config.AppendLine(CultureInfo.InvariantCulture, $"    timeout check {spec.TimeoutMs}ms");
        config.AppendLine("    timeout client 5s");
        config.AppendLine("    timeout server 5s");
        config.AppendLine("frontend unused"); // HAProxy refuses to start without a listener; nothing connects to it
        config.AppendLine("    bind 127.0.0.1:9999");
        config.AppendLine("    default_backend targets");
        config.AppendLine("backend targets");
        config.AppendLine(CultureInfo.InvariantCulture, $"    default-server check inter {spec.IntervalMs}ms");
        for (int i = 0; i < spec.Targets; i++)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"    server t{i} 127.0.0.1:{spec.BasePort + i}");
        }

        string path = Path.Combine(Path.GetTempPath(), $"tcpshaker-bench-haproxy-{Environment.ProcessId}.cfg");
        File.WriteAllText(path, config.ToString());
        return path;
    }

    /// <summary>
    /// Timestamps of the SYNs on lo for a few seconds (tcpdump, kernel timestamps), bucketed by millisecond:
    /// the mean and the most in one millisecond, and how much of the interval holds 90% of them.
    /// </summary>
    private static void CaptureSyns(CaseResult result)
    {
        (List<double> stamps, long? dropped, string stderr) = SynCapture.Capture(CaptureSeconds);
        if (dropped is long count)
        {
            result.Extra["capture_dropped"] = count;
        }

        if (stamps.Count < 100)
        {
            result.Notes.Add($"SYN capture: only {stamps.Count} SYNs ({stderr.Trim()})");
            return;
        }

        // Whole milliseconds strictly inside the capture (tcpdump starts and stops mid-millisecond).
        long first = (long)Math.Floor(stamps[0] * 1000) + 1;
        long last = (long)Math.Floor(stamps[^1] * 1000) - 1;
        int buckets = (int)(last - first);
        var perMs = new int[buckets];
        var phase = new int[1000]; // SYNs by millisecond of the second (the interval is 1 s)
        int counted = 0;
        foreach (double t in stamps)
        {
            long ms = (long)Math.Floor(t * 1000);
            if (ms >= first && ms < last)
            {
                perMs[ms - first]++;
                phase[ms % 1000]++;
                counted++;
            }
        }

        double mean = (double)counted / buckets;
        int[] sorted = [.. perMs.Order()];
        result.Extra["syn_capture_seconds"] = buckets / 1000.0;
        result.Extra["syns_captured"] = counted;
        result.Extra["syns_per_ms_mean"] = mean;
        result.Extra["syns_per_ms_p99"] = sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(0.99 * sorted.Length) - 1)];
        result.Extra["syns_per_ms_max"] = sorted[^1];
        result.Extra["syns_per_ms_max_over_mean"] = sorted[^1] / mean;
        result.Extra["ms_without_syn_percent"] = 100.0 * perMs.Count(c => c == 0) / buckets;
        result.Extra["ms_of_interval_holding_90pct"] = ShortestWindow(phase, 0.9 * counted);
    }

    /// <summary>The fewest consecutive milliseconds of the (circular) second that hold <paramref name="share"/> SYNs.</summary>
    private static int ShortestWindow(int[] phase, double share)
    {
        int best = phase.Length;
        for (int startMs = 0; startMs < phase.Length; startMs++)
        {
            long sum = 0;
            for (int length = 1; length <= best && length <= phase.Length; length++)
            {
                sum += phase[(startMs + length - 1) % phase.Length];
                if (sum >= share)
                {
                    best = length;
                    break;
                }
            }
        }

        return best;
    }

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
