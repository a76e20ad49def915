namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>The rows of a run, in the order they run (interleaved by concurrency, so noise hits every checker alike).</summary>
internal static class Plan
{
    internal static List<CaseSpec> Build(bool quick, string synlimit)
    {
        int cores = Environment.ProcessorCount;
        int total = quick ? 20_000 : 200_000;
        int warmup = quick ? 1_000 : 5_000;
        int[] concurrencies = quick ? [1_000, 10_000] : [100, 1_000, 10_000, 19_000];
        var rows = new List<CaseSpec>();

        foreach (int conc in concurrencies)
        {
            string c1 = $"C reference, 1 loop @{conc}";
            string cn = $"C reference, {cores} loops @{conc}";
            rows.Add(new CaseSpec { Name = c1, Kind = CaseKind.CReference, Concurrency = conc, Total = total, SynlimitPath = synlimit });
            rows.Add(new CaseSpec { Name = $"TcpShaker, 1 loop @{conc}", Kind = CaseKind.Shaker, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = c1 });
            if (!quick && conc is 1_000 or 19_000)
            {
                rows.Add(new CaseSpec { Name = $"TcpShaker, 1 loop, no MeterListener @{conc}", Kind = CaseKind.Shaker, Concurrency = conc, Total = total, Warmup = warmup, Reaction = false, CompareTo = c1 });
            }

            rows.Add(new CaseSpec { Name = cn, Kind = CaseKind.CReference, Loops = cores, Concurrency = conc, Total = total, SynlimitPath = synlimit });
            rows.Add(new CaseSpec { Name = $"TcpShaker, {cores} loops @{conc}", Kind = CaseKind.Shaker, Loops = cores, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = cn });
            if (!quick && conc is 1_000 or 19_000)
            {
                // The thread pool's idle workers spin before they sleep; with every core running a loop that spinning competes with the loops.
                rows.Add(new CaseSpec
                {
                    Name = $"TcpShaker, {cores} loops, thread-pool spinning off @{conc}", Kind = CaseKind.Shaker, Loops = cores, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = cn,
                    Environment = new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" },
                });
            }

            rows.Add(new CaseSpec { Name = $"naive .NET ConnectAsync @{conc}", Kind = CaseKind.Naive, Concurrency = conc, Total = total, Warmup = 1_000, TimeoutMs = 2_000, BudgetMs = 40_000, CompareTo = c1 });
            rows.Add(new CaseSpec { Name = $"full connect (TcpClient) @{conc}", Kind = CaseKind.FullConnect, Concurrency = conc, Total = total, Warmup = 1_000, TimeoutMs = 2_000, BudgetMs = 40_000, CompareTo = c1 });
        }

        const int refusedConc = 1_000;
        string r1 = $"C reference refused, 1 loop @{refusedConc}";
        rows.Add(new CaseSpec { Name = r1, Kind = CaseKind.CReferenceRefused, Concurrency = refusedConc, Total = total, SynlimitPath = synlimit });
        rows.Add(new CaseSpec { Name = $"TcpShaker refused, 1 loop @{refusedConc}", Kind = CaseKind.ShakerRefused, Concurrency = refusedConc, Total = total, Warmup = warmup, CompareTo = r1 });
        if (!quick)
        {
            string rn = $"C reference refused, {cores} loops @{refusedConc}";
            rows.Add(new CaseSpec { Name = rn, Kind = CaseKind.CReferenceRefused, Loops = cores, Concurrency = refusedConc, Total = total, SynlimitPath = synlimit });
            rows.Add(new CaseSpec { Name = $"TcpShaker refused, {cores} loops @{refusedConc}", Kind = CaseKind.ShakerRefused, Loops = cores, Concurrency = refusedConc, Total = total, Warmup = warmup, CompareTo = rn });
        }

        rows.Add(new CaseSpec { Name = "CheckAsync(string), IP literal @100", Kind = CaseKind.ShakerString, Concurrency = 100, Total = quick ? 10_000 : 50_000, Warmup = warmup, Reaction = false });
        rows.Add(new CaseSpec { Name = "HealthCheckService.CheckHealthAsync, AddTcpShaker @1", Kind = CaseKind.HealthCheckService, Concurrency = 1, Total = quick ? 500 : 5_000, Warmup = quick ? 100 : 500 });
        rows.Add(new CaseSpec { Name = "HealthCheckService.CheckHealthAsync, a no-op check (baseline) @1", Kind = CaseKind.HealthCheckService, Concurrency = 1, Total = quick ? 500 : 5_000, Warmup = quick ? 100 : 500, Baseline = true });
        int pending = quick ? 2_000 : 10_000;
        rows.Add(new CaseSpec { Name = $"timeouts, {pending} pending, 500 ms", Kind = CaseKind.ShakerTimeout, Concurrency = pending, Total = pending, Warmup = 1_000, TimeoutMs = 500 });
        rows.Add(new CaseSpec { Name = "idle engine, 1 loop", Kind = CaseKind.Idle, Concurrency = quick ? 2_000 : 10_000, TimeoutMs = quick ? 1_000 : 3_000 });
        return rows;
    }

    /// <summary>
    /// The raw SYN plan (<c>--rawsyn</c>): raw mode next to <c>rawsyn.c</c> (the prototype it is measured against)
    /// and <c>synlimit.c</c> (the connect-based reference) at each concurrency; then the starvation rows of issue 12:
    /// 64 busy processes, 100,000 checks at concurrency 1,000, for raw mode, half-open mode with and without a raised
    /// priority, both C programs, and synlimit.c at nice -10. A 60,000 row goes past the fd limit. Leaks are the namespace's TcpExtDelayedACKs and TcpPassiveOpens.
    /// </summary>
    internal static List<CaseSpec> BuildRawSyn(bool quick, string synlimit, string rawsyn)
    {
        int total = quick ? 20_000 : 200_000;
        int warmup = quick ? 1_000 : 5_000;
        int[] concurrencies = quick ? [1_000] : [100, 1_000, 10_000, 19_000];
        var rows = new List<CaseSpec>();
        foreach (int conc in concurrencies)
        {
            string raw = $"rawsyn.c @{conc}";
            string c1 = $"C reference, 1 loop @{conc}";
            rows.Add(new CaseSpec { Name = raw, Kind = CaseKind.CRawSyn, Concurrency = conc, Total = total, RawsynPath = rawsyn });
            rows.Add(new CaseSpec { Name = c1, Kind = CaseKind.CReference, Concurrency = conc, Total = total, SynlimitPath = synlimit });
            rows.Add(new CaseSpec { Name = $"TcpShaker raw SYN @{conc}", Kind = CaseKind.Shaker, RawSyn = true, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = raw });
            if (!quick && conc is 100 or 1_000)
            {
                // The loop thread is the bottleneck and does as much per check as rawsyn.c; the workers' spinning on the other core is what differs.
                rows.Add(new CaseSpec
                {
                    Name = $"TcpShaker raw SYN, thread-pool spinning off @{conc}", Kind = CaseKind.Shaker, RawSyn = true, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = raw,
                    Environment = new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" },
                });
            }
            rows.Add(new CaseSpec { Name = $"TcpShaker half-open, 1 loop @{conc}", Kind = CaseKind.Shaker, Concurrency = conc, Total = total, Warmup = warmup, CompareTo = c1 });
        }

        if (!quick)
        {
            // Beyond the fd limit (20,000 here): both send from several loopback addresses once their reserved ports run out.
            // synlimit.c needs a socket per check, so it runs 4 processes of 15,000, each against a listener of its own
            // (one listener would need 60,000 ephemeral ports; the range has 28,232). No half-open row: one process cannot.
            const int beyond = 60_000;
            string raw = $"rawsyn.c @{beyond}";
            rows.Add(new CaseSpec { Name = raw, Kind = CaseKind.CRawSyn, Concurrency = beyond, Total = total, RawsynPath = rawsyn });
            rows.Add(new CaseSpec { Name = $"C reference, 4 processes @{beyond}", Kind = CaseKind.CReference, Loops = 4, OwnListeners = true, Concurrency = beyond, Total = total, SynlimitPath = synlimit });
            rows.Add(new CaseSpec { Name = $"TcpShaker raw SYN @{beyond}", Kind = CaseKind.Shaker, RawSyn = true, Concurrency = beyond, Total = total, Warmup = warmup, CompareTo = raw });
        }

        const int busy = 64;
        const int starvedConc = 1_000;
        int starvedTotal = quick ? 20_000 : 100_000;
        string starved = $", {busy} busy processes @{starvedConc}";
        rows.Add(new CaseSpec { Name = "rawsyn.c" + starved, Kind = CaseKind.CRawSyn, Concurrency = starvedConc, Total = starvedTotal, BusyProcesses = busy, RawsynPath = rawsyn });
        rows.Add(new CaseSpec { Name = "C reference, 1 loop" + starved, Kind = CaseKind.CReference, Concurrency = starvedConc, Total = starvedTotal, BusyProcesses = busy, SynlimitPath = synlimit });
        rows.Add(new CaseSpec { Name = "C reference, 1 loop, nice -10" + starved, Kind = CaseKind.CReference, Concurrency = starvedConc, Total = starvedTotal, BusyProcesses = busy, Nice = -10, SynlimitPath = synlimit });
        rows.Add(new CaseSpec { Name = "TcpShaker raw SYN" + starved, Kind = CaseKind.Shaker, RawSyn = true, Concurrency = starvedConc, Total = starvedTotal, Warmup = warmup, BusyProcesses = busy, CompareTo = "rawsyn.c" + starved });
        rows.Add(new CaseSpec { Name = "TcpShaker half-open" + starved, Kind = CaseKind.Shaker, Concurrency = starvedConc, Total = starvedTotal, Warmup = warmup, BusyProcesses = busy, CompareTo = "C reference, 1 loop" + starved });
        rows.Add(new CaseSpec { Name = "TcpShaker half-open, RaiseLoopPriority" + starved, Kind = CaseKind.Shaker, RaiseLoopPriority = true, Concurrency = starvedConc, Total = starvedTotal, Warmup = warmup, BusyProcesses = busy, CompareTo = "C reference, 1 loop" + starved });
        return rows;
    }

    /// <summary>
    /// The monitoring section (issue 10): 10,000 listeners each checked once a second by one checker per row,
    /// the C reference (paced.c half) first and last so drift shows; then the detection rows.
    /// </summary>
    internal static List<CaseSpec> BuildMonitor(bool quick, string listeners, string paced)
    {
        const int targets = 10_000;
        int duration = quick ? 10 : 60;
        const string reference = "monitor: paced.c half (C reference)";
        CaseSpec Cost(string name, CaseKind kind) => new()
        {
            Name = name, Kind = kind, Targets = targets, DurationS = duration, TimeoutMs = 500, ListenersPath = listeners, PacedPath = paced,
            CompareTo = name == reference ? null : reference, BudgetMs = (duration + 30) * 1000,
        };

        return
        [
            Cost(reference, CaseKind.MonitorPaced) with { Mode = "half" },
            Cost("monitor: TcpShakerMonitor, 10,000 watches", CaseKind.MonitorShaker),
            // With a FastInterval the watches' first checks spread over it, not over the interval (see docs/benchmarks.md).
            Cost("monitor: TcpShakerMonitor, 10,000 watches, FastInterval 250 ms", CaseKind.MonitorShaker) with { FastIntervalMs = 250 },
            Cost("monitor: TcpShakerMonitor, 10,000 watches, raw SYN", CaseKind.MonitorShaker) with { RawSyn = true },
            Cost("monitor: TcpShakerMonitor, 10,000 watches, jitter 0.5", CaseKind.MonitorShaker) with { Jitter = 0.5 },
            // The scale row (issue 21): 100,000 checks a second on one loop, to 10,000 addresses (past the raw mode's old
            // source-address cache of 4,096) at 10 wildcard listeners each.
            Cost("monitor: TcpShakerMonitor, 100,000 watches on 10,000 addresses, raw SYN", CaseKind.MonitorShaker) with { RawSyn = true, Targets = 100_000, Addresses = 10_000, BudgetMs = (duration + 90) * 1000 },
            Cost("monitor: HAProxy 2.6, spread-checks 0", CaseKind.MonitorHaproxy) with { Spread = 0 },
            Cost("monitor: HAProxy 2.6, spread-checks 50", CaseKind.MonitorHaproxy) with { Spread = 50 },
            Cost("monitor: paced.c full connect", CaseKind.MonitorPaced) with { Mode = "full" },
            Cost("monitor: paced.c half again (drift check)", CaseKind.MonitorPaced) with { Mode = "half" },
            new CaseSpec
            {
                Name = "monitor detection: Interval 1 s, Timeout 500 ms, rise 2, fall 3", Kind = CaseKind.MonitorDetection, Targets = targets,
                TimeoutMs = 500, ListenersPath = listeners,
            },
            new CaseSpec
            {
                Name = "monitor detection: Interval 1 s, FastInterval 250 ms, Timeout 200 ms, rise 2, fall 3", Kind = CaseKind.MonitorDetection, Targets = targets,
                TimeoutMs = 200, FastIntervalMs = 250, ListenersPath = listeners,
            },
        ];
    }

    /// <summary>
    /// The Prometheus prober section (issue 19, <c>--prober</c>): Debian's blackbox exporter and <c>tcp-shaker serve</c>
    /// (half-open, raw SYN) under the same wrk load, the exporter first and last so drift shows; then serve's watch
    /// mode on 10,000 file_sd targets beside the library monitor's row for 10,000 watches (the <c>--monitor</c> row).
    /// </summary>
    internal static List<CaseSpec> BuildProber(bool quick, string listeners, string? tool)
    {
        int load = quick ? 5 : 15;
        int window = quick ? 10 : 60;
        const string blackbox = "prober: blackbox exporter 0.23, tcp_connect";
        CaseSpec Load(string name, string mode) => new()
        {
            Name = name, Kind = CaseKind.ProberLoad, Mode = mode, DurationS = load, Connections = 16, ToolPath = tool,
            Targets = ProberCases.TargetCount, CompareTo = mode == "blackbox" ? null : blackbox, BudgetMs = (load + 60) * 1000,
        };

        const string monitor = "monitor: TcpShakerMonitor, 10,000 watches";
        return
        [
            Load(blackbox, "blackbox"),
            Load("prober: tcp-shaker serve, half-open", "half_open"),
            Load("prober: tcp-shaker serve, raw SYN", "raw_syn"),
            Load("prober: blackbox exporter again (drift check)", "blackbox") with { CompareTo = blackbox },
            new CaseSpec
            {
                Name = monitor, Kind = CaseKind.MonitorShaker, Targets = 10_000, DurationS = window, TimeoutMs = 500, ListenersPath = listeners,
                BudgetMs = (window + 30) * 1000,
            },
            new CaseSpec
            {
                Name = "prober: tcp-shaker serve --targets, 10,000 file_sd targets at 1 s", Kind = CaseKind.ProberWatch, Targets = 10_000, DurationS = window,
                TimeoutMs = 500, ListenersPath = listeners, ToolPath = tool, CompareTo = monitor, BudgetMs = (window + 60) * 1000,
            },
        ];
    }
}
