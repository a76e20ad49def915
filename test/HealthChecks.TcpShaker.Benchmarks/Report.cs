using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>The machine a run was made on, and the markdown tables of its results.</summary>
internal static class Report
{
    internal static Dictionary<string, string> Machine(bool namespaces, string why)
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return new Dictionary<string, string>
        {
            ["date_utc"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            ["nproc"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
            ["kernel"] = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            ["cpu"] = cpu,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["open_files_limit"] = ReadLimit(),
            ["load_average_at_start"] = File.ReadAllText("/proc/loadavg").Trim(),
            ["isolation"] = namespaces ? "a fresh network namespace per row (ip netns)" : $"host loopback, no namespaces ({why})",
        };
    }

    private static string ReadLimit()
    {
        string? line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        return line is null ? "?" : string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(3).Take(2));
    }

    private static string N(double value, string format = "0") => value.ToString(format, CultureInfo.InvariantCulture);

    private static string C(CaseResult r, string name) => r.Counters.TryGetValue(name, out long v) ? N(v) : "-";

    /// <summary>The line every table starts with: the machine and how busy it was.</summary>
    private static void AppendMachine(StringBuilder md, Dictionary<string, string> machine) =>
        md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {machine["nproc"]} cores ({machine["cpu"]}), Linux {machine["kernel"]}, {machine["dotnet"]}, open files {machine["open_files_limit"]}; {machine["isolation"]}; load average at start {machine["load_average_at_start"]}; {machine["date_utc"]}.");

    internal static string Markdown(IReadOnlyList<CaseResult> results, Dictionary<string, string> machine)
    {
        var md = new StringBuilder();
        AppendMachine(md, machine);
        md.AppendLine();
        md.AppendLine("| row | checks | ok | failed | checks/s | x C ref | CPU µs/check (loop threads) | C's CPU/check ÷ this | ACKs leaked | passive opens | listen overflows | retrans segs | B/check | latency ms p50 / p99 / max | reaction µs p50 / p99 / max |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (CaseResult r in results.Where(r => r.Spec.Kind is not (CaseKind.ShakerTimeout or CaseKind.Idle)))
        {
            if (r.Error is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Spec.Name} | failed to run: {FirstLine(r.Error)} |||||||||||||||");
                continue;
            }

            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Spec.Name} | {r.Completed} | {r.Succeeded} | {r.Failed} | {N(r.ChecksPerSecond)} | {(r.RatioToC is { } x ? N(x, "0.00") : "")} | {Cpu(r)} | {(r.CpuRatioToC is { } y ? N(y, "0.00") : "")} | {C(r, "TcpExtDelayedACKs")} | {C(r, "TcpPassiveOpens")} | {C(r, "TcpExtListenOverflows")} | {C(r, "TcpRetransSegs")} | {(r.BytesPerCheck is { } b ? N(b, "0.0") : "-")} | {r.LatencyMs?.Format() ?? "-"} | {r.ReactionUs?.Format("0") ?? "-"} |");
        }

        foreach (CaseResult r in results.Where(r => r.Spec.Kind == CaseKind.ShakerTimeout))
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**{r.Spec.Name}** (1 loop, {r.Spec.Concurrency} checks started at once, each with a {r.Spec.TimeoutMs} ms timeout): {Outcome(r)}");
            if (r.Error is null)
            {
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"- lateness of the timeout (result's Elapsed minus {r.Spec.TimeoutMs} ms), ms p50 / p99 / max: {r.TimeoutLatenessMs?.Format() ?? "-"} (min {N(r.TimeoutLatenessMs?.Min ?? 0, "0.00")})");
                md.AppendLine(CultureInfo.InvariantCulture, $"- as the caller saw it (continuation ran, minus request time plus {r.Spec.TimeoutMs} ms), ms p50 / p99 / max: {r.TimeoutCallerLatenessMs?.Format() ?? "-"}");
                md.AppendLine(CultureInfo.InvariantCulture, $"- statuses: {string.Join(", ", r.Statuses.Select(s => $"{s.Key} {s.Value}"))}; {string.Join("; ", r.Notes)}; kernel: {string.Join(", ", r.Counters.Select(c => $"{c.Key} {c.Value}"))}");
            }
        }

        foreach (CaseResult r in results.Where(r => r.Spec.Kind == CaseKind.Idle))
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**{r.Spec.Name}**: {Outcome(r)}");
            if (r.Error is null)
            {
                double E(string key) => r.Extra.GetValueOrDefault(key);
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"- over {N(E("idle_seconds"), "0.0")} s idle: process CPU {N(E("process_cpu_ms"), "0.0")} ms, loop thread CPU {N(E("loop_cpu_us"), "0")} µs, loop thread wake-ups (context switches) {N(E("loop_wakeups"))}");
                md.AppendLine(CultureInfo.InvariantCulture, $"- {string.Join("; ", r.Notes)}");
                md.AppendLine(CultureInfo.InvariantCulture, $"- managed heap (GC.GetTotalMemory(true)) of the process with a started idle engine: {N(E("heap_process_bytes") / 1024, "0")} KiB; the engine's share (after minus before creating it): {N(E("heap_engine_bytes") / 1024, "0.0")} KiB");
                md.AppendLine(CultureInfo.InvariantCulture, $"- after a burst of {N(E("burst_checks"))} concurrent checks the engine holds {N(E("heap_after_burst_bytes") / 1024, "0")} KiB (the operation pool and in-flight table keep their peak size)");
            }
        }

        return md.ToString();
    }

    private static string Cpu(CaseResult r) =>
        (r.Extra.TryGetValue("cpu_us_per_check", out double all) ? N(all, "0.0") : "-")
        + (r.Extra.TryGetValue("loop_cpu_us_per_check", out double loop) ? $" ({N(loop, "0.0")})" : "");

    private static string Outcome(CaseResult r) => r.Error is null ? "" : $"failed to run: {FirstLine(r.Error)}";

    private static string FirstLine(string text) => text.Split('\n')[0].Replace('|', '/');

    /// <summary>The monitoring section's tables: cost and spread per checker, then detection.</summary>
    internal static string MonitorMarkdown(IReadOnlyList<CaseResult> results, Dictionary<string, string> machine)
    {
        var md = new StringBuilder();
        AppendMachine(md, machine);
        md.AppendLine();
        md.AppendLine("| row | window s | checks (SYNs) | checks/s | CPU µs/check | x paced.c half | % of a core | SYNs/ms mean / p99 / max | max ÷ mean | ms of the second holding 90% | passive opens | delayed ACKs | embryonic RSTs | retrans segs | TIME_WAIT / FIN_WAIT2 at end | notes |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (CaseResult r in results.Where(r => r.Spec.Kind is CaseKind.MonitorShaker or CaseKind.MonitorHaproxy or CaseKind.MonitorPaced))
        {
            if (r.Error is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Spec.Name} | failed to run: {FirstLine(r.Error)} |||||||||||||||");
                continue;
            }

            double E(string key) => r.Extra.GetValueOrDefault(key);
            long W(string key) => r.WindowCounters?.GetValueOrDefault(key) ?? 0;
            string ratio = r.Spec.CompareTo is { } reference && results.FirstOrDefault(c => c.Spec.Name == reference) is { Error: null } c
                && c.Extra.TryGetValue("cpu_us_per_check", out double cCpu) ? N(E("cpu_us_per_check") / cCpu, "0.00") : "1";
            var notes = new List<string>();
            if (r.Extra.ContainsKey("loop_cpu_us_per_check"))
            {
                notes.Add($"loop thread {N(E("loop_cpu_us_per_check"), "0.00")} µs/check, {N(E("loop_waits_per_check"), "0.00")} loop sleeps/check, {N(E("bytes_per_check"), "0.0")} B/check, {N(E("gen0_collections"))} gen0 GCs, {N(E("monitor_checks"))} checks counted by the watches, {N(E("watches_up"))} watches Up at the end");
                if (r.Extra.ContainsKey("bytes_per_watch"))
                {
                    notes.Add($"{N(E("bytes_per_watch"), "0")} B of managed heap a watch");
                }
            }

            if (E("capture_dropped") > 0)
            {
                notes.Add($"tcpdump dropped {N(E("capture_dropped"))}");
            }

            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Spec.Name} | {N(r.Seconds, "0.0")} | {r.Completed} | {N(r.ChecksPerSecond)} | {N(E("cpu_us_per_check"), "0.00")} | {ratio} | {N(E("cpu_percent_of_a_core"), "0.0")} | {N(E("syns_per_ms_mean"), "0.0")} / {N(E("syns_per_ms_p99"))} / {N(E("syns_per_ms_max"))} | {N(E("syns_per_ms_max_over_mean"), "0.0")} | {N(E("ms_of_interval_holding_90pct"))} | {W("TcpPassiveOpens")} | {W("TcpExtDelayedACKs")} | {W("TcpExtEmbryonicRsts")} | {W("TcpRetransSegs")} | {N(E("time_wait"))} / {N(E("fin_wait_2"))} | {string.Join("; ", notes)} |");
        }

        foreach (CaseResult r in results.Where(r => r.Spec.Kind == CaseKind.MonitorDetection))
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**{r.Spec.Name}** ({r.Spec.Targets} watches, 10% taken down and up again): {Outcome(r)}");
            if (r.Error is not null)
            {
                continue;
            }

            double E(string key) => r.Extra.GetValueOrDefault(key);
            md.AppendLine();
            md.AppendLine("| transition | watches | ms from the fault to HealthChanged.At, p50 / p99 / max | min |");
            md.AppendLine("|---|---:|---|---:|");
            foreach ((string name, Percentiles p) in r.DetectionMs ?? [])
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {p.Samples} | {p.Format("0.0")} | {N(p.Min, "0.0")} |");
            }

            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"- goal for Down at p99: {N(E("goal_down_ms"))} ms; {string.Join("; ", r.Notes)}");
            md.AppendLine(CultureInfo.InvariantCulture, $"- {N(E("down_events"))} Down and {N(E("up_events"))} Up events; {N(E("false_transitions"))} transitions of watches whose target stayed up; closing the 500 sockets took {N(E("close_ms"), "0.0")} ms, the iptables command {N(E("iptables_ms"), "0.0")} ms (the fault's moment is when it returned), reopening {N(E("reopen_ms"), "0.0")} ms, deleting the rule {N(E("iptables_delete_ms"), "0.0")} ms");
        }

        return md.ToString();
    }

    /// <summary>The Prometheus prober section's tables: the load rows side by side, then the watch mode beside the library monitor.</summary>
    internal static string ProberMarkdown(IReadOnlyList<CaseResult> results, Dictionary<string, string> machine)
    {
        var md = new StringBuilder();
        AppendMachine(md, machine);
        md.AppendLine();
        md.AppendLine("| row | probes (window s) | probes/s | x blackbox | CPU µs/probe (prober) | ÷ blackbox's | prober / wrk / machine, % of a core | non-2xx, socket errors | targets' passive opens | prober's active opens | FIN_WAIT2 prober / targets | TIME_WAIT prober / targets | latency ms p50 / p99 | probe_success open, closed, open after |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|---|---|");
        foreach (CaseResult r in results.Where(r => r.Spec.Kind == CaseKind.ProberLoad))
        {
            if (r.Error is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Spec.Name} | failed to run: {FirstLine(r.Error)} |||||||||||||");
                continue;
            }

            double E(string key) => r.Extra.GetValueOrDefault(key);
            CaseResult? reference = Reference(results, r);
            string rate = reference is null ? "1" : N(r.ChecksPerSecond / reference.ChecksPerSecond, "0.00");
            string cpu = reference is null ? "1" : N(E("cpu_us_per_check") / reference.Extra.GetValueOrDefault("cpu_us_per_check"), "0.000");
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Spec.Name} | {r.Completed} ({N(r.Seconds, "0.0")}) | {N(r.ChecksPerSecond)} | {rate} | {N(E("cpu_us_per_check"), "0.0")} | {cpu} | {N(E("prober_cpu_percent_of_a_core"))} / {N(E("wrk_cpu_percent_of_a_core"))} / {N(E("machine_busy_percent_of_a_core"))} | {N(E("non_2xx"))}, {N(E("socket_errors"))} | {N(E("targets_passive_opens"))} | {N(E("prober_active_opens"))} | {N(E("fin_wait_2_prober"))} / {N(E("fin_wait_2_targets"))} | {N(E("time_wait_prober"))} / {N(E("time_wait_targets"))} | {N(E("latency_p50_ms"), "0.00")} / {N(E("latency_p99_ms"), "0.00")} | {N(E("sample_open_success"))}, {N(E("sample_closed_success"))}, {N(E("sample_open_success_after"))} |");
        }

        md.AppendLine();
        md.AppendLine("| row | window s | checks (SYNs) | checks/s | CPU µs/check | x library monitor | % of a core | /metrics scrape ms median / max, harness; curl (KiB) | watches up start / end | passive opens | TIME_WAIT / FIN_WAIT2 at end | notes |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---|");
        foreach (CaseResult r in results.Where(r => r.Spec.Kind is CaseKind.ProberWatch or CaseKind.MonitorShaker))
        {
            if (r.Error is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Spec.Name} | failed to run: {FirstLine(r.Error)} |||||||||||");
                continue;
            }

            double E(string key) => r.Extra.GetValueOrDefault(key);
            CaseResult? reference = Reference(results, r);
            string ratio = reference is null ? "1" : N(E("cpu_us_per_check") / reference.Extra.GetValueOrDefault("cpu_us_per_check"), "0.00");
            bool watch = r.Spec.Kind == CaseKind.ProberWatch;
            long passive = watch ? (long)E("passive_opens") : r.WindowCounters?.GetValueOrDefault("TcpPassiveOpens") ?? 0;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Spec.Name} | {N(r.Seconds, "0.0")} | {r.Completed} | {N(r.ChecksPerSecond)} | {N(E("cpu_us_per_check"), "0.00")} | {ratio} | {N(E("cpu_percent_of_a_core"), "0.0")} | {(watch ? $"{N(E("metrics_scrape_ms_median"), "0.0")} / {N(E("metrics_scrape_ms_max"), "0.0")}; curl {N(E("metrics_scrape_curl_ms_median"), "0.0")} / {N(E("metrics_scrape_curl_ms_max"), "0.0")} ({N(E("metrics_bytes") / 1024, "0")})" : "-")} | {(watch ? $"{N(E("watches_up_at_start"))} / {N(E("watches_up_at_end"))}" : $"- / {N(E("watches_up"))}")} | {passive} | {N(E("time_wait"))} / {N(E("fin_wait_2"))} | {string.Join("; ", r.Notes)} |");
        }

        return md.ToString();
    }

    private static CaseResult? Reference(IReadOnlyList<CaseResult> results, CaseResult row) =>
        row.Spec.CompareTo is { } name ? results.FirstOrDefault(c => c.Spec.Name == name && c.Error is null) : null;
}
