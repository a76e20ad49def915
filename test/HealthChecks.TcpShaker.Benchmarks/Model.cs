using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>What a case measures; the child process runs exactly one.</summary>
public enum CaseKind
{
    /// <summary>TcpShaker.CheckAsync(IPEndPoint) against a listener that never accepts.</summary>
    Shaker,

    /// <summary>The C reference (synlimit) against a listener that never accepts.</summary>
    CReference,

    /// <summary>Socket.ConnectAsync with TCP_QUICKACK=0 and zero linger, then Dispose.</summary>
    Naive,

    /// <summary>TcpClient.ConnectAsync then close, against a listener that accepts and closes (AspNetCore.HealthChecks.Network's TcpHealthCheck).</summary>
    FullConnect,

    /// <summary>TcpShaker against a closed port (RST).</summary>
    ShakerRefused,

    /// <summary>The C reference against a closed port.</summary>
    CReferenceRefused,

    /// <summary>TcpShaker with every check pending on a silent target until its timeout.</summary>
    ShakerTimeout,

    /// <summary>A started engine with nothing to do: CPU, wake-ups, managed heap.</summary>
    Idle,

    /// <summary>HealthCheckService.CheckHealthAsync with one AddTcpShaker registration, run after run.</summary>
    HealthCheckService,

    /// <summary>TcpShaker.CheckAsync(string) with an IP literal.</summary>
    ShakerString,

    /// <summary>The raw SYN C prototype (rawsyn) against a listener that never accepts.</summary>
    CRawSyn,

    /// <summary>Monitoring: a TcpShakerMonitor watching <see cref="CaseSpec.Targets"/> listeners (listeners.c), CPU of this process per check.</summary>
    MonitorShaker,

    /// <summary>Monitoring: HAProxy with one backend of <see cref="CaseSpec.Targets"/> servers, <c>check inter</c>, CPU of the haproxy process per check.</summary>
    MonitorHaproxy,

    /// <summary>Monitoring: paced.c (<see cref="CaseSpec.Mode"/> half or full), CPU of the paced process per check.</summary>
    MonitorPaced,

    /// <summary>Prometheus prober (issue 19): <see cref="CaseSpec.Mode"/> blackbox (Debian's exporter, tcp_connect), half_open or raw_syn (<c>tcp-shaker serve</c>) under the same wrk load rotating /probe over listeners in a second namespace.</summary>
    ProberLoad,

    /// <summary>Prometheus prober (issue 19): <c>tcp-shaker serve --targets</c> watching <see cref="CaseSpec.Targets"/> file_sd targets; CPU of the serve process per check, and the time of a /metrics scrape.</summary>
    ProberWatch,

    /// <summary>Monitoring: 10% of the targets taken down (half by iptables DROP, half by closing the port) and up again; time to Down and to Up per watch.</summary>
    MonitorDetection,
}

/// <summary>One row of the report: what to run, with which parameters.</summary>
public sealed record CaseSpec
{
    public required string Name { get; init; }

    public required CaseKind Kind { get; init; }

    public int Loops { get; init; } = 1;

    public int Concurrency { get; init; } = 1;

    public int Total { get; init; }

    public int Warmup { get; init; }

    public int TimeoutMs { get; init; } = 5000;

    /// <summary>Stop starting checks after this long (the bound on a row that collapses).</summary>
    public int BudgetMs { get; init; } = 60_000;

    /// <summary>Collect tcpshaker.loop.reaction_time with a MeterListener.</summary>
    public bool Reaction { get; init; } = true;

    /// <summary>For the timeout case: the parent made port 9 silent with iptables; else use the backlog-0 trick.</summary>
    public bool IptablesSilent { get; init; }

    /// <summary>Environment variables for the child (runtime knobs such as the thread pool's spinning).</summary>
    public Dictionary<string, string>? Environment { get; init; }

    /// <summary>For the health-check case: register a no-op check instead of AddTcpShaker (what the framework itself costs).</summary>
    public bool Baseline { get; init; }

    /// <summary>Shaker rows: ask for raw SYN mode (TcpShakerOptions.PreferRawSyn); the row fails if the engine falls back.</summary>
    public bool RawSyn { get; init; }

    /// <summary>The start of the name of the engine's loop threads in this row's mode (for their CPU time); a thread's comm keeps 15 characters.</summary>
    public string LoopThreadName => RawSyn ? "TcpShaker raw" : "TcpShaker half-";

    /// <summary>Shaker rows: TcpShakerOptions.RaiseLoopPriority.</summary>
    public bool RaiseLoopPriority { get; init; }

    /// <summary>Busy-loop processes (<c>while :; do :; done</c>) running for the length of the row: CPU starvation.</summary>
    public int BusyProcesses { get; init; }

    /// <summary>C reference rows: each loop (process) checks a listener of its own instead of the harness's (synlimit.c without PORT).</summary>
    public bool OwnListeners { get; init; }

    /// <summary>C rows: run the program at this nice value (<c>nice -n</c>; below 0 needs CAP_SYS_NICE); 0 for as is.</summary>
    public int Nice { get; init; }

    /// <summary>Where the compiled raw SYN C prototype is.</summary>
    public string? RawsynPath { get; init; }

    /// <summary>Where the compiled C reference is.</summary>
    public string? SynlimitPath { get; init; }

    /// <summary>For the monitoring rows: how many listeners are watched (ports <see cref="BasePort"/> on).</summary>
    public int Targets { get; init; }

    /// <summary>For the monitoring rows: the first listener's port (below the namespace's ephemeral range).</summary>
    public int BasePort { get; init; } = 10_000;

    /// <summary>For the monitoring rows: the length of the measured window, seconds.</summary>
    public int DurationS { get; init; }

    /// <summary>For the monitoring rows: checked every this long (each target), milliseconds.</summary>
    public int IntervalMs { get; init; } = 1_000;

    /// <summary>For the monitoring rows: the targets spread over this many loopback addresses (127.0.0.1 on), each at <see cref="Targets"/> ÷ this ports, with a listener on the wildcard address each.</summary>
    public int Addresses { get; init; } = 1;

    /// <summary>For the TcpShakerMonitor cost rows: the watches' Jitter.</summary>
    public double Jitter { get; init; }

    /// <summary>For the detection rows: the watches' FastInterval, milliseconds (0: none).</summary>
    public int FastIntervalMs { get; init; }

    /// <summary>For the HAProxy rows: spread-checks (percent).</summary>
    public int Spread { get; init; }

    /// <summary>For the paced.c rows: half or full; for the prober rows: blackbox, half_open or raw_syn.</summary>
    public string? Mode { get; init; }

    /// <summary>For the prober rows: the published native <c>tcp-shaker</c> executable.</summary>
    public string? ToolPath { get; init; }

    /// <summary>For the prober load rows: the targets' network namespace (the parent makes it, with a veth to the row's own).</summary>
    public string? TargetsNamespace { get; init; }

    /// <summary>For the prober load rows: the targets' address on that veth.</summary>
    public string? TargetAddress { get; init; }

    /// <summary>For the prober load rows: wrk's connections (<c>-c</c>) and seconds (<c>-d</c>) in the measured window.</summary>
    public int Connections { get; init; } = 16;

    /// <summary>For the monitoring rows: where the compiled listeners.c and paced.c are.</summary>
    public string? ListenersPath { get; init; }

    /// <summary>For the monitoring rows: where the compiled paced.c is.</summary>
    public string? PacedPath { get; init; }

    /// <summary>The row of the C reference this row is compared with, if any.</summary>
    public string? CompareTo { get; init; }

    public string ToArgument() => JsonSerializer.Serialize(this, Json.Options);

    public static CaseSpec FromArgument(string json) => JsonSerializer.Deserialize<CaseSpec>(json, Json.Options)
        ?? throw new ArgumentException("empty case", nameof(json));
}

/// <summary>A percentile summary, in the unit its name says.</summary>
public sealed record Percentiles(double P50, double P99, double Max, int Samples, double Min = 0)
{
    public static Percentiles? Of(Span<double> values)
    {
        if (values.Length == 0)
        {
            return null;
        }

        values.Sort();
        return new Percentiles(At(values, 0.50), At(values, 0.99), values[^1], values.Length, values[0]);
    }

    private static double At(Span<double> sorted, double q) =>
        sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    public string Format(string format = "0.00") =>
        string.Create(CultureInfo.InvariantCulture, $"{P50.ToString(format, CultureInfo.InvariantCulture)} / {P99.ToString(format, CultureInfo.InvariantCulture)} / {Max.ToString(format, CultureInfo.InvariantCulture)}");
}

/// <summary>What a child measured (plus the kernel counters its parent read around it).</summary>
public sealed record CaseResult
{
    public required CaseSpec Spec { get; init; }

    public int Completed { get; set; }

    public int Succeeded { get; set; }

    public int Failed { get; set; }

    public Dictionary<string, int> Statuses { get; set; } = [];

    public double Seconds { get; set; }

    public double ChecksPerSecond { get; set; }

    /// <summary>GC.GetTotalAllocatedBytes(true) over the steady window (10% to 90% of the checks), per check.</summary>
    public double? BytesPerCheck { get; set; }

    /// <summary>Caller-observed check latency, milliseconds.</summary>
    public Percentiles? LatencyMs { get; set; }

    /// <summary>Epoll event to close(), microseconds (tcpshaker.loop.reaction_time).</summary>
    public Percentiles? ReactionUs { get; set; }

    /// <summary>For the timeout case: result's Elapsed minus the requested timeout, milliseconds.</summary>
    public Percentiles? TimeoutLatenessMs { get; set; }

    /// <summary>For the timeout case: when the caller's continuation ran, minus request time plus timeout, milliseconds.</summary>
    public Percentiles? TimeoutCallerLatenessMs { get; set; }

    /// <summary>For the monitoring rows: kernel counter deltas over the measured window only (read inside the namespace by the child).</summary>
    public Dictionary<string, long>? WindowCounters { get; set; }

    /// <summary>For the detection rows: time to Down and to Up per watch, milliseconds, by how the target was taken down ("down drop", "up closed", ...).</summary>
    public Dictionary<string, Percentiles>? DetectionMs { get; set; }

    /// <summary>Kernel counter deltas over the namespace's life (parent-side), e.g. TcpExtDelayedACKs.</summary>
    public Dictionary<string, long> Counters { get; set; } = [];

    /// <summary>Case-specific figures (idle CPU, heap, bytes per health-check run, ...).</summary>
    public Dictionary<string, double> Extra { get; set; } = [];

    public List<string> Notes { get; set; } = [];

    public string? Error { get; set; }

    /// <summary>Checks per second relative to <see cref="CaseSpec.CompareTo"/>'s row, filled in by the parent.</summary>
    public double? RatioToC { get; set; }

    /// <summary>The C reference's CPU time per check divided by this row's (1 = as frugal as C), filled in by the parent.</summary>
    public double? CpuRatioToC { get; set; }

    /// <summary>Sets the counts from per-status tallies (index = <see cref="TcpCheckStatus"/>; 0 is success).</summary>
    public void SetCounts(int[] statuses, int completed, Func<int, string> statusName)
    {
        Completed = completed;
        Succeeded = statuses[0];
        Failed = completed - statuses[0];
        for (int s = 0; s < statuses.Length; s++)
        {
            if (statuses[s] > 0)
            {
                Statuses[statusName(s)] = statuses[s];
            }
        }
    }

    public string ToJsonLine() => JsonSerializer.Serialize(this, Json.Compact);

    public static CaseResult? FromJsonLine(string line) => JsonSerializer.Deserialize<CaseResult>(line, Json.Compact);
}

internal static class Json
{
    internal static readonly JsonSerializerOptions Options = new()
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    internal static readonly JsonSerializerOptions Compact = new(Options);

    internal static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };
}
