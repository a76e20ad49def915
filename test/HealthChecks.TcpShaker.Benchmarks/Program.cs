using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HealthChecks.TcpShaker.Benchmarks;
using HealthChecks.TcpShaker.Testing;

// dotnet run -c Release --project test/HealthChecks.TcpShaker.Benchmarks -- [--quick] [--out DIR] [--only TEXT] [--no-netns]
//   --quick      fewer checks and rows (a sanity run of about a minute)
//   --out DIR    where results.json, results.md and the compiled C reference go (default bench-results)
//   --only TEXT  run only the rows whose name contains TEXT (the C reference rows they compare with too);
//                TEXT|TEXT2 for either
//   --no-netns   run on the host's loopback even as root
//   --rawsyn     the raw SYN plan instead: raw mode next to rawsyn.c and synlimit.c, and the starvation rows
//   --monitor    the monitoring section instead (issue 10): 10,000 listeners checked once a second for 60 s
//                (10 s with --quick) by TcpShakerMonitor (half-open and raw SYN), HAProxy, paced.c half and full;
//                then the detection rows
//   --prober     the Prometheus prober section instead (issue 19): Debian's blackbox exporter and `tcp-shaker serve`
//                (half-open, raw SYN) under the same `wrk -t1 -c16 -d15s` rotating /probe over 1,000 listeners in a
//                second namespace; then `serve --targets` watching 10,000 file_sd targets at 1 s beside the library
//                monitor's row. Needs wrk, prometheus-blackbox-exporter and --tool.
//   --tool PATH  the published native tcp-shaker (dotnet publish src/HealthChecks.TcpShaker.Tool -c Release -r linux-x64)
//   --report FILE  print the tables of an earlier run's results.json again
// Internal: --case JSON runs one case in this process and prints "RESULT <json>";
//           --listeners ADDRESS BASEPORT COUNT BACKLOG listens (never accepts) until killed (the prober rows' targets).

if (args.Contains("--help") || args.Contains("-h"))
{
    // The comment at the top of this file, as the usage: nothing runs (a bare run is the whole default plan).
    Console.WriteLine("""
        dotnet run -c Release --project test/HealthChecks.TcpShaker.Benchmarks -- [--quick] [--out DIR] [--only TEXT] [--no-netns] [--rawsyn | --monitor | --prober --tool PATH] [--report FILE]
          --quick      fewer checks and rows (a sanity run of about a minute)
          --out DIR    where results.json, results.md and the compiled C references go (default bench-results)
          --only TEXT  only the rows whose name contains TEXT (and the C reference rows they compare with); TEXT|TEXT2 for either
          --no-netns   run on the host's loopback even as root
          --rawsyn     the raw SYN plan: raw mode beside rawsyn.c and synlimit.c, and the starvation rows
          --monitor    the monitoring plan: 10,000 listeners checked once a second by TcpShakerMonitor, HAProxy and paced.c,
                       the jitter and 100,000-watch rows, then the detection rows
          --prober     the Prometheus prober plan: Debian's blackbox exporter and tcp-shaker serve under the same wrk load,
                       then serve --targets beside the library monitor (needs wrk, prometheus-blackbox-exporter, --tool)
          --tool PATH  the published native tcp-shaker, for --prober
          --report FILE  print the tables of an earlier run's results.json again
        Without --only every row of the plan runs (the default plan takes about ten minutes).
        """);
    return 0;
}

int listenersIndex = Array.IndexOf(args, "--listeners");
if (listenersIndex >= 0)
{
    return ProberCases.ServeListeners(args[(listenersIndex + 1)..]);
}

int caseIndex = Array.IndexOf(args, "--case");
if (caseIndex >= 0)
{
    CaseResult child = await CaseRunner.RunAsync(CaseSpec.FromArgument(args[caseIndex + 1]));
    Console.WriteLine("RESULT " + child.ToJsonLine());
    return child.Error is null ? 0 : 1;
}

if (Option("--report") is { } saved)
{
    // Re-render the tables of an earlier run's results.json (ratios recomputed).
    using JsonDocument document = JsonDocument.Parse(await File.ReadAllTextAsync(saved));
    List<CaseResult> savedResults = document.RootElement.GetProperty("results").Deserialize<List<CaseResult>>(Json.Options) ?? [];
    Dictionary<string, string> savedMachine = document.RootElement.GetProperty("machine").Deserialize<Dictionary<string, string>>(Json.Options) ?? [];
    FillRatios(savedResults);
    Console.WriteLine(savedResults.Any(r => r.Spec.Kind is CaseKind.ProberLoad or CaseKind.ProberWatch)
        ? Report.ProberMarkdown(savedResults, savedMachine)
        : savedResults.Any(r => r.Spec.Kind is CaseKind.MonitorShaker or CaseKind.MonitorPaced or CaseKind.MonitorHaproxy or CaseKind.MonitorDetection)
            ? Report.MonitorMarkdown(savedResults, savedMachine)
            : Report.Markdown(savedResults, savedMachine));
    return 0;
}

bool quick = args.Contains("--quick");
string outDir = Path.GetFullPath(Option("--out") ?? "bench-results");
string? only = Option("--only");
Directory.CreateDirectory(outDir);

string why = NetNamespace.SkipReason() ?? "";
bool namespaces = why.Length == 0 && !args.Contains("--no-netns");
if (args.Contains("--no-netns"))
{
    why = "--no-netns";
}

bool iptables = namespaces && Sh.TryRun(TimeSpan.FromSeconds(30), "iptables", "--version").ExitCode == 0;
Console.WriteLine(namespaces
    ? $"Each row runs in a fresh network namespace; silent target: {(iptables ? "iptables DROP" : "backlog-0 listener (iptables missing)")}."
    : $"Running on the host's loopback WITHOUT network namespaces ({why}): kernel counters are not isolated and not reported.");

bool monitoring = args.Contains("--monitor");
bool proberRows = args.Contains("--prober");
if ((monitoring || proberRows) && !namespaces)
{
    Console.Error.WriteLine("The monitoring and prober rows need network namespaces (root and iproute2): 10,000 listeners and iptables rules of their own.");
    return 2;
}

string? tool = Option("--tool") is { } toolOption ? Path.GetFullPath(toolOption) : null;
if (proberRows && (tool is null || !File.Exists(tool)))
{
    Console.Error.WriteLine($"--prober needs --tool PATH, the published native tcp-shaker ({tool ?? "not given"}): dotnet publish src/HealthChecks.TcpShaker.Tool -c Release -r linux-x64 -o DIR");
    return 2;
}

List<CaseSpec> plan = proberRows
    ? Plan.BuildProber(quick, CompileReference(outDir, "listeners"), tool)
    : monitoring
    ? Plan.BuildMonitor(quick, CompileReference(outDir, "listeners"), CompileReference(outDir, "paced"))
    : args.Contains("--rawsyn")
        ? Plan.BuildRawSyn(quick, CompileReference(outDir, "synlimit"), CompileReference(outDir, "rawsyn"))
        : Plan.Build(quick, CompileReference(outDir, "synlimit"));
if (only is not null)
{
    string[] alternatives = only.Split('|');
    HashSet<string> wanted = plan.Where(s => alternatives.Any(a => s.Name.Contains(a, StringComparison.OrdinalIgnoreCase)))
        .SelectMany(s => s.CompareTo is null ? [s.Name] : new[] { s.Name, s.CompareTo }).ToHashSet();
    plan = plan.Where(s => wanted.Contains(s.Name)).ToList();
}

if (namespaces)
{
    NetNamespace.DeleteLeftovers(Orchestrator.NamespacePrefix);
}

Orchestrator.InstallCleanup();
Dictionary<string, string> machine = Report.Machine(namespaces, why);
var orchestrator = new Orchestrator(namespaces, iptables);
var results = new List<CaseResult>();
var clock = Stopwatch.StartNew();
foreach (CaseSpec spec in plan)
{
    Console.Write($"[{clock.Elapsed:mm\\:ss}] {spec.Name} ... ");
    CaseResult result = orchestrator.Run(spec);
    results.Add(result);
    Console.WriteLine(result.Error is null
        ? string.Create(CultureInfo.InvariantCulture, $"{result.ChecksPerSecond:0}/s, {result.Succeeded} ok, {result.Failed} failed, DelayedACKs {result.Counters.GetValueOrDefault("TcpExtDelayedACKs")}, PassiveOpens {result.Counters.GetValueOrDefault("TcpPassiveOpens")}{(result.Extra.TryGetValue("cpu_us_per_check", out double cpu) ? $", {cpu:0.00} µs CPU/check" : "")}")
        : $"FAILED: {result.Error.Split('\n')[0]}");
}

FillRatios(results);

string markdown = proberRows ? Report.ProberMarkdown(results, machine) : monitoring ? Report.MonitorMarkdown(results, machine) : Report.Markdown(results, machine);
string jsonPath = Path.Combine(outDir, "results.json");
string markdownPath = Path.Combine(outDir, "results.md");
await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { machine, quick, command = Environment.CommandLine, seconds = clock.Elapsed.TotalSeconds, results }, Json.Indented));
await File.WriteAllTextAsync(markdownPath, markdown);
Console.WriteLine();
Console.WriteLine(markdown);
Console.WriteLine($"Took {clock.Elapsed:mm\\:ss}. JSON: {jsonPath}  Markdown: {markdownPath}");
return results.Any(r => r.Error is not null) ? 1 : 0;

static void FillRatios(List<CaseResult> results)
{
    foreach (CaseResult result in results)
    {
        if (result.Spec.CompareTo is { } reference && results.FirstOrDefault(r => r.Spec.Name == reference) is { Error: null, ChecksPerSecond: > 0 } c)
        {
            result.RatioToC = result.ChecksPerSecond / c.ChecksPerSecond;
            if (c.Extra.TryGetValue("cpu_us_per_check", out double cCpu) && result.Extra.TryGetValue("cpu_us_per_check", out double cpu) && cpu > 0)
            {
                result.CpuRatioToC = cCpu / cpu;
            }
        }
    }
}

string? Option(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

// Compiles a C reference (../shared/bench/NAME.c next to the repository) into the output folder.
static string CompileReference(string outDir, string name)
{
    string binary = Path.Combine(outDir, name);
    string? source = Environment.GetEnvironmentVariable(name.ToUpperInvariant() + "_SOURCE");
    for (DirectoryInfo? dir = new(AppContext.BaseDirectory); source is null && dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "HealthChecks.TcpShaker.sln")))
        {
            source = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "bench", name + ".c"));
        }
    }

    if (source is null || !File.Exists(source))
    {
        Console.Error.WriteLine($"The C reference source was not found ({source ?? "no repository root"}); set {name.ToUpperInvariant()}_SOURCE. Its rows will fail.");
        return binary;
    }

    (int gccExit, string gccOut, string gccErr) = Sh.TryRun(TimeSpan.FromMinutes(2), "gcc", "-O2", "-o", binary, source);
    if (gccExit != 0)
    {
        Console.Error.WriteLine($"gcc -O2 {source} failed: {gccOut}{gccErr}");
    }
    else
    {
        Console.WriteLine($"C reference: gcc -O2 {source} -> {binary}");
    }

    return binary;
}
