using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// The Prometheus prober rows (issue 19). Load: a prober (Debian's blackbox exporter with one tcp_connect module,
/// or <c>tcp-shaker serve</c> half-open or raw SYN) on 127.0.0.1:9115 in this row's namespace, wrk rotating
/// <c>/probe?target=...</c> over 1,000 listeners in a second namespace (veth-linked), and what that costs: the
/// prober's CPU per probe, probes/s, the targets' passive opens, FIN_WAIT2 and TIME_WAIT on both sides.
/// Watch: <c>serve --targets</c> watching 10,000 file_sd targets once a second, CPU per check and /metrics' time.
/// </summary>
internal static partial class ProberCases
{
    internal const int TargetBasePort = 20_000;
    internal const int TargetCount = 1_000;
    private const int ProberPort = 9115;
    private const int WarmupSeconds = 3;
    private const int Backlog = 4096;
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);
    private static readonly Uri Prober = new($"http://127.0.0.1:{ProberPort}");

    /// <summary>The internal <c>--listeners ADDRESS BASEPORT COUNT BACKLOG</c> mode: listeners.c's job on any address; never accepts; runs until killed.</summary>
    internal static int ServeListeners(string[] args)
    {
        IPAddress address = IPAddress.Parse(args[0]);
        int basePort = int.Parse(args[1], CultureInfo.InvariantCulture);
        int count = int.Parse(args[2], CultureInfo.InvariantCulture);
        int backlog = int.Parse(args[3], CultureInfo.InvariantCulture);
        var sockets = new List<Socket>(count);
        for (int i = 0; i < count; i++)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, basePort + i));
            socket.Listen(backlog);
            sockets.Add(socket);
        }

        Console.WriteLine($"ready {sockets.Count}");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    internal static async Task RunLoadAsync(CaseSpec spec, CaseResult result)
    {
        string work = Directory.CreateTempSubdirectory("tcpshaker-bench-prober-").FullName;
        string address = spec.TargetAddress ?? throw new InvalidOperationException("no targets' namespace: the parent makes it");
        string ns = spec.TargetsNamespace!;
        string lua = Path.Combine(work, "probe.lua");
        await File.WriteAllTextAsync(lua, LuaScript(address));

        using Process targets = StartTargets(ns, address);
        Process? prober = null;
        try
        {
            prober = StartProber(spec, work);
            await WaitForProberAsync(prober);

            // Before any load: an open target answers 1, a closed port 0 (so the rows below count real probes).
            result.Extra["sample_open_success"] = await SampleAsync(address, TargetBasePort + 7);
            result.Extra["sample_closed_success"] = await SampleAsync(address, TargetBasePort - 1);

            RunWrk(lua, WarmupSeconds, spec.Connections); // Go's and Kestrel's pools settle; not measured
            await Task.Delay(500);

            Func<double> proberCpu = () => ChildProcess.CpuSeconds(prober.Id);
            Dictionary<string, long> targets0 = ReadCounters(ns);
            Dictionary<string, long> own0 = MonitorCases.ReadCounters();
            (long busy0, long total0) = MachineJiffies();
            double cpu0 = proberCpu();
            TimeSpan children0 = CpuTime.ReapedChildren();

            WrkResult wrk = RunWrk(lua, spec.DurationS, spec.Connections);

            TimeSpan children1 = CpuTime.ReapedChildren();
            double cpu1 = proberCpu();
            (long busy1, long total1) = MachineJiffies();
            Dictionary<string, long> own1 = MonitorCases.ReadCounters();
            Dictionary<string, long> targets1 = ReadCounters(ns);
            if (prober.HasExited)
            {
                throw new InvalidOperationException($"the prober exited with {prober.ExitCode} during the window: {ChildProcess.Output(prober)}");
            }

            result.Seconds = wrk.Seconds;
            result.Completed = (int)wrk.Requests;
            result.ChecksPerSecond = wrk.RequestsPerSecond;
            result.Failed = (int)(wrk.Non2xx + wrk.SocketErrors);
            result.Succeeded = result.Completed - (int)wrk.Non2xx;
            result.Extra["cpu_us_per_check"] = (cpu1 - cpu0) * 1e6 / wrk.Requests;
            result.Extra["prober_cpu_percent_of_a_core"] = (cpu1 - cpu0) * 100 / wrk.Seconds;
            result.Extra["wrk_cpu_percent_of_a_core"] = (children1 - children0).TotalSeconds * 100 / wrk.Seconds;
            // /proc/stat counts jiffies of every core: busy ÷ total of them, times the cores, is cores' worth busy.
            result.Extra["machine_busy_percent_of_a_core"] = (double)(busy1 - busy0) / (total1 - total0) * 100 * Environment.ProcessorCount;
            result.Extra["non_2xx"] = wrk.Non2xx;
            result.Extra["socket_errors"] = wrk.SocketErrors;
            result.Extra["latency_p50_ms"] = wrk.P50Ms;
            result.Extra["latency_p99_ms"] = wrk.P99Ms;
            result.Extra["targets_passive_opens"] = targets1.GetValueOrDefault("TcpPassiveOpens") - targets0.GetValueOrDefault("TcpPassiveOpens");
            result.Extra["targets_listen_overflows"] = targets1.GetValueOrDefault("TcpExtListenOverflows") - targets0.GetValueOrDefault("TcpExtListenOverflows");
            result.Extra["prober_active_opens"] = own1.GetValueOrDefault("TcpActiveOpens") - own0.GetValueOrDefault("TcpActiveOpens");
            result.Extra["prober_out_rsts"] = own1.GetValueOrDefault("TcpOutRsts") - own0.GetValueOrDefault("TcpOutRsts");
            // The probes' sockets only (to or from the targets' address): wrk's own connections to the prober are not probes.
            result.Extra["fin_wait_2_prober"] = CountProbeSockets(null, "fin-wait-2", "dst", address);
            result.Extra["time_wait_prober"] = CountProbeSockets(null, "time-wait", "dst", address);
            result.Extra["fin_wait_2_targets"] = CountProbeSockets(ns, "fin-wait-2", "src", address);
            result.Extra["time_wait_targets"] = CountProbeSockets(ns, "time-wait", "src", address);
            result.Extra["close_wait_targets"] = CountProbeSockets(ns, "close-wait", "src", address);
            result.Extra["sample_open_success_after"] = await SampleAsync(address, TargetBasePort + 11);
            result.Notes.Add($"wrk -t1 -c{spec.Connections} -d{spec.DurationS}s --latency -s probe.lua {Prober}: {wrk.Summary}");
        }
        finally
        {
            if (prober is not null)
            {
                ChildProcess.Stop(prober);
                prober.Dispose();
            }

            ChildProcess.Stop(targets);
            Directory.Delete(work, recursive: true);
        }
    }

    internal static async Task RunWatchAsync(CaseSpec spec, CaseResult result)
    {
        string work = Directory.CreateTempSubdirectory("tcpshaker-bench-prober-").FullName;
        using Process listeners = MonitorCases.StartListeners(spec, spec.Targets);
        Process? serve = null;
        try
        {
            string targetsFile = Path.Combine(work, "targets.yml");
            string config = Path.Combine(work, "prober.yml");
            await File.WriteAllTextAsync(targetsFile, FileSdTargets(spec));
            await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture,
                $"modules:\n  watch:\n    prober: tcp\n    timeout: {spec.TimeoutMs}ms\ntcp_shaker:\n  watch:\n    module: watch\n    interval: {spec.IntervalMs}ms\n"));
            serve = ChildProcess.StartDrained(spec.ToolPath!, ["serve", "--listen", $"127.0.0.1:{ProberPort}", "--config", config, "--targets", targetsFile]);
            result.Notes.Add($"tcp-shaker serve --config prober.yml --targets targets.yml: {spec.Targets} targets in {spec.Targets / 100} groups of 100 with 2 labels each, interval {spec.IntervalMs} ms, timeout {spec.TimeoutMs} ms");
            await WaitForProberAsync(serve);

            // Every watch up before the window (the first checks spread over the first interval), bounded.
            long start = Stopwatch.GetTimestamp();
            int up = 0;
            while (Stopwatch.GetElapsedTime(start) < TimeSpan.FromSeconds(30) && (up = CountUp(await ScrapeAsync())) < spec.Targets)
            {
                await Task.Delay(500);
            }

            result.Extra["watches_up_at_start"] = up;
            await Task.Delay(2_000);

            Func<double> cpu = () => ChildProcess.CpuSeconds(serve.Id);
            Dictionary<string, long> before = MonitorCases.ReadCounters();
            double cpu0 = cpu();
            long started = Stopwatch.GetTimestamp();
            Thread.Sleep(spec.DurationS * 1000); // a blocking sleep: the harness adds nothing to the window
            double cpu1 = cpu();
            result.Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            Dictionary<string, long> after = MonitorCases.ReadCounters();
            if (serve.HasExited)
            {
                throw new InvalidOperationException($"serve exited with {serve.ExitCode} during the window: {ChildProcess.Output(serve)}");
            }

            long checks = after.GetValueOrDefault("TcpActiveOpens") - before.GetValueOrDefault("TcpActiveOpens");
            result.Completed = (int)checks;
            result.ChecksPerSecond = checks / result.Seconds;
            result.Extra["cpu_us_per_check"] = (cpu1 - cpu0) * 1e6 / checks;
            result.Extra["cpu_percent_of_a_core"] = (cpu1 - cpu0) * 100 / result.Seconds;
            result.Extra["passive_opens"] = after.GetValueOrDefault("TcpPassiveOpens") - before.GetValueOrDefault("TcpPassiveOpens");

            // Before the scrapes below: their connections (closed by the client) would be the TIME_WAIT counted.
            result.Extra["time_wait"] = SocketStates.Count("time-wait");
            result.Extra["fin_wait_2"] = SocketStates.Count("fin-wait-2");

            // /metrics after the window (a scrape costs CPU, so not during it): the whole body, as Prometheus reads it.
            var times = new double[7];
            string body = "";
            for (int i = 0; i < times.Length; i++)
            {
                long t = Stopwatch.GetTimestamp();
                body = await ScrapeAsync();
                times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }

            Percentiles scrape = Percentiles.Of(times)!;
            result.Extra["metrics_scrape_ms_median"] = scrape.P50;
            result.Extra["metrics_scrape_ms_max"] = scrape.Max;

            // The same with curl (a native client that discards the body): how much of the time above is this harness's reading.
            if (Testing.Sh.Which("curl") is { } curl)
            {
                var curlTimes = new double[times.Length];
                for (int i = 0; i < curlTimes.Length; i++)
                {
                    string seconds = Testing.Sh.Run(TimeSpan.FromSeconds(30), curl, "-s", "-o", "/dev/null", "-w", "%{time_total}", new Uri(Prober, "/metrics").ToString());
                    curlTimes[i] = double.Parse(seconds, CultureInfo.InvariantCulture) * 1000;
                }

                Percentiles byCurl = Percentiles.Of(curlTimes)!;
                result.Extra["metrics_scrape_curl_ms_median"] = byCurl.P50;
                result.Extra["metrics_scrape_curl_ms_max"] = byCurl.Max;
            }
            result.Extra["metrics_bytes"] = Encoding.UTF8.GetByteCount(body);
            result.Extra["watches_up_at_end"] = CountUp(body);
            result.Notes.Add("promtool check metrics: " + PromtoolCheckMetrics(body, work));
        }
        finally
        {
            if (serve is not null)
            {
                ChildProcess.Stop(serve);
                serve.Dispose();
            }

            ChildProcess.Stop(listeners);
            Directory.Delete(work, recursive: true);
        }
    }

    private static Process StartProber(CaseSpec spec, string work)
    {
        string config = Path.Combine(work, "modules.yml");
        switch (spec.Mode)
        {
            case "blackbox":
                File.WriteAllText(config, "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n");
                return ChildProcess.StartDrained("prometheus-blackbox-exporter", ["--config.file=" + config, $"--web.listen-address=127.0.0.1:{ProberPort}", "--log.level=warn"]);
            case "half_open" or "raw_syn":
                // The blackbox user's module name; this project's key asks for the mode.
                File.WriteAllText(config, $"modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n    tcp_shaker:\n      mode: {spec.Mode}\n");
                return ChildProcess.StartDrained(spec.ToolPath ?? throw new InvalidOperationException("--tool is needed for the serve rows"), ["serve", "--listen", $"127.0.0.1:{ProberPort}", "--config", config]);
            default:
                throw new ArgumentOutOfRangeException(nameof(spec), spec.Mode, "blackbox, half_open or raw_syn");
        }
    }

    private static async Task WaitForProberAsync(Process prober)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (prober.HasExited)
            {
                throw new InvalidOperationException($"{prober.StartInfo.FileName} exited with {prober.ExitCode} at start: {ChildProcess.Output(prober)}");
            }

            try
            {
                await ScrapeAsync();
                return;
            }
            catch (HttpRequestException) when (Stopwatch.GetElapsedTime(start) < StartLimit)
            {
                await Task.Delay(100);
            }
        }
    }

    private static readonly HttpClient s_http = new() { BaseAddress = Prober, Timeout = TimeSpan.FromSeconds(10) };

    private static async Task<string> ScrapeAsync() => await s_http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    /// <summary>One probe of the target; its probe_success (-1 when the answer has none).</summary>
    private static async Task<double> SampleAsync(string address, int port)
    {
        string body = await s_http.GetStringAsync(new Uri($"/probe?module=tcp_connect&target={address}:{port}", UriKind.Relative));
        Match match = ProbeSuccess().Match(body);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    private static int CountUp(string metrics) => UpWatch().Count(metrics);

    private sealed record WrkResult(long Requests, double Seconds, double RequestsPerSecond, long Non2xx, long SocketErrors, double P50Ms, double P99Ms, string Summary);

    private static WrkResult RunWrk(string lua, int seconds, int connections)
    {
        (int exit, string output, string error) = Testing.Sh.TryRun(TimeSpan.FromSeconds(seconds + 30), "wrk", "-t1", $"-c{connections}", $"-d{seconds}s", "--latency", "-s", lua, Prober.ToString());
        if (exit != 0)
        {
            throw new InvalidOperationException($"wrk exited with {exit}: {output} {error}");
        }

        Match total = WrkTotal().Match(output);
        if (!total.Success)
        {
            throw new InvalidOperationException($"wrk's output has no totals: {output}");
        }

        long requests = long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture);
        double window = double.Parse(total.Groups[2].Value, CultureInfo.InvariantCulture);
        long Count(Regex pattern) => pattern.Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        long errors = SocketErrors().Match(output) is { Success: true } e
            ? e.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture))
            : 0;
        string summary = string.Join("; ", output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("Requests/sec", StringComparison.Ordinal) || l.Contains("requests in", StringComparison.Ordinal) || l.StartsWith("Non-2xx", StringComparison.Ordinal) || l.StartsWith("Socket errors", StringComparison.Ordinal)));
        return new WrkResult(requests, window, requests / window, Count(Non2xx()), errors, Latency(output, "50%"), Latency(output, "99%"), summary);
    }

    /// <summary>A line of wrk's latency distribution ("50%  1.23ms") in milliseconds.</summary>
    private static double Latency(string output, string percentile)
    {
        string? line = output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(percentile, StringComparison.Ordinal));
        if (line is null)
        {
            return -1;
        }

        string value = line[percentile.Length..].Trim();
        (string unit, double scale) = value.EndsWith("us", StringComparison.Ordinal) ? ("us", 0.001) : value.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1) : ("s", 1000);
        return double.Parse(value[..^unit.Length], CultureInfo.InvariantCulture) * scale;
    }

    /// <summary>The listeners in the targets' namespace: this harness again in its <c>--listeners</c> mode.</summary>
    private static Process StartTargets(string ns, string address) =>
        ChildProcess.StartWhenReady(["ip", "netns", "exec", ns, .. Orchestrator.ChildCommand(), "--listeners", address, Num(TargetBasePort), Num(TargetCount), Num(Backlog)], "the targets' listeners");

    private static Dictionary<string, long> ReadCounters(string ns) =>
        Testing.KernelCounters.Parse(Testing.Sh.Run(TimeSpan.FromSeconds(20), "ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/netstat"));

    /// <summary>Sockets in a TCP state whose <paramref name="side"/> (src or dst) is <paramref name="address"/>, in this namespace or <paramref name="ns"/>.</summary>
    private static int CountProbeSockets(string? ns, string state, string side, string address)
    {
        string[] ss = ["ss", "-Htan", "state", state, side, address];
        string output = ns is null
            ? Testing.Sh.Run(TimeSpan.FromSeconds(30), ss[0], ss[1..])
            : Testing.Sh.Run(TimeSpan.FromSeconds(30), "ip", ["netns", "exec", ns, .. ss]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    /// <summary>Busy and all jiffies of every core (/proc/stat's cpu line; idle and iowait are not busy).</summary>
    private static (long Busy, long Total) MachineJiffies()
    {
        long[] fields = [.. File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture))];
        long total = fields.Sum();
        return (total - fields[3] - fields[4], total);
    }

    private static string LuaScript(string address) => string.Create(CultureInfo.InvariantCulture, $$"""
        -- /probe?module=tcp_connect&target=ADDRESS:P, P rotating over the listeners (bench/probe.lua, another address)
        local base, n, i = {{TargetBasePort}}, {{TargetCount}}, 0
        request = function()
          i = (i + 1) % n
          return wrk.format("GET", "/probe?module=tcp_connect&target={{address}}:" .. (base + i))
        end
        """);

    private static string FileSdTargets(CaseSpec spec)
    {
        var yaml = new StringBuilder();
        for (int group = 0; group < spec.Targets / 100; group++)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"- labels: {{group: g{group}, team: t{group % 5}}}\n  targets:\n");
            for (int i = 0; i < 100; i++)
            {
                yaml.Append(CultureInfo.InvariantCulture, $"  - 127.0.0.1:{spec.BasePort + (group * 100) + i}\n");
            }
        }

        return yaml.ToString();
    }

    private static string PromtoolCheckMetrics(string body, string work)
    {
        if (Testing.Sh.Which("promtool") is not { } promtool)
        {
            return "not run (promtool missing)";
        }

        // promtool reads the exposition from stdin; a shell redirect from a file keeps the runner's no-shell rule for the rest.
        string file = Path.Combine(work, "metrics.txt");
        File.WriteAllText(file, body);
        (int exit, string stdout, string stderr) = Testing.Sh.TryRun(TimeSpan.FromSeconds(60), "sh", "-c", $"'{promtool}' check metrics < '{file}'");
        string said = (stdout + stderr).Trim();
        return exit == 0 ? (said.Length == 0 ? "passed" : "passed: " + said.Split('\n')[0]) : $"exit {exit}: {said.Split('\n')[0]}";
    }

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"(\d+) requests in ([\d.]+)s")]
    private static partial Regex WrkTotal();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"^probe_success (\S+)$", RegexOptions.Multiline)]
    private static partial Regex ProbeSuccess();

    [GeneratedRegex(@"^tcpshaker_watch_up\{.*\} 1$", RegexOptions.Multiline)]
    private static partial Regex UpWatch();
}
