using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// A real Prometheus (Debian's 2.42) scraping a real <c>tcp-shaker serve</c> process, both inside a network
/// namespace of the test's own, with the blackbox exporter's relabelling unchanged: an open port (whose
/// listener must accept nothing), a refused one, a silent one (iptables DROP) and an unreachable address
/// (an <c>unreachable</c> route). The same targets in a file_sd file for the watch mode, scraped on /metrics.
/// </summary>
public sealed class PrometheusScrapeTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(45);
    private readonly string _dir = Directory.CreateTempSubdirectory("tcp-shaker-prometheus-").FullName;
    private readonly List<Process> _processes = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        foreach (Process process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }

            process.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    [Trait("Category", "Netns")]
    public async Task Prometheus_with_the_blackbox_relabelling_sees_open_refused_silent_and_unreachable_and_the_watches_agree()
    {
        string? unavailable = NetNamespace.SkipReason()
            ?? (Sh.Which("prometheus") is null ? "Debian's 'prometheus' is not installed (CI installs it)" : null)
            ?? (Sh.Which("promtool") is null ? "'promtool' (Debian's prometheus package) is not installed" : null);
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);
        using NetNamespace ns = NetNamespace.Create(prefix: "tsprom-");
        using LoopbackListener listener = ns.RunInside(() => new LoopbackListener(IPAddress.Loopback, backlog: 16, port: 7000));
        ns.Iptables("-A", "INPUT", "-p", "tcp", "--syn", "--dport", "7002", "-j", "DROP");
        ns.Exec("ip", "route", "add", "unreachable", "198.18.200.0/24");
        var expected = new Dictionary<string, string>
        {
            ["127.0.0.1:7000"] = "1",
            ["127.0.0.1:7001"] = "0",
            ["127.0.0.1:7002"] = "0",
            ["198.18.200.1:7003"] = "0",
        };

        string config = Write("prober.yml", """
            modules:
              tcp_connect:
                prober: tcp
                timeout: 5s
            tcp_shaker:
              watch:
                interval: 200ms
                rise: 1
                fall: 1
            """);
        string targets = Write("targets.json", """
            [
              {"targets": ["127.0.0.1:7000"], "labels": {"kind": "open"}},
              {"targets": ["127.0.0.1:7001"], "labels": {"kind": "refused"}},
              {"targets": ["127.0.0.1:7002"], "labels": {"kind": "silent"}},
              {"targets": ["198.18.200.1:7003"], "labels": {"kind": "unreachable"}}
            ]
            """);

        // The blackbox exporter's README configuration, with only the exporter's address changed.
        string prometheusConfig = Write("prometheus.yml", """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: blackbox
                metrics_path: /probe
                params:
                  module: [tcp_connect]
                static_configs:
                  - targets: [127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002, 198.18.200.1:7003]
                relabel_configs:
                  - source_labels: [__address__]
                    target_label: __param_target
                  - source_labels: [__param_target]
                    target_label: instance
                  - target_label: __address__
                    replacement: 127.0.0.1:9115
              - job_name: tcpshaker_watches
                honor_labels: true
                static_configs:
                  - targets: [127.0.0.1:9115]
            """);

        Process prober = StartInside(ns, "dotnet", ToolRunner.AssemblyPath, "serve", "--listen", "127.0.0.1:9115", "--config", config, "--targets", targets);
        Task<string> proberErrors = prober.StandardError.ReadToEndAsync(Ct);
        string header = await prober.StandardOutput.ReadLineAsync(Ct).AsTask().WaitAsync(Limit, Ct) ?? string.Empty;
        Assert.True(header.StartsWith("tcp-shaker serve: listening on http://127.0.0.1:9115;", StringComparison.Ordinal), header + (prober.HasExited ? await proberErrors : string.Empty));
        Process prometheus = StartInside(ns, "prometheus", $"--config.file={prometheusConfig}", $"--storage.tsdb.path={Path.Combine(_dir, "data")}", "--web.listen-address=127.0.0.1:9090", "--log.level=warn");
        Task<string> prometheusErrors = prometheus.StandardError.ReadToEndAsync(Ct);

        using HttpClient http = InsideClient(ns);
        Dictionary<string, string> probes = await QueryUntilAsync(http, "probe_success", "instance", expected, prometheus, prometheusErrors);
        Dictionary<string, string> watches = await QueryUntilAsync(http, "tcpshaker_watch_up", "target", expected, prometheus, prometheusErrors);
        Dictionary<string, string> down = await QueryUntilAsync(http, "tcpshaker_watch_state{state=\"down\"}", "kind", new() { ["open"] = "0", ["refused"] = "1", ["silent"] = "1", ["unreachable"] = "1" }, prometheus, prometheusErrors);

        Assert.Equal(expected, probes);
        Assert.Equal(expected, watches);
        Assert.Equal("1", down["refused"]);
        Assert.Equal(0, listener.DrainAcceptQueue());

        // Each status as the probe saw it, and both expositions as promtool judges them.
        string open = await http.GetStringAsync(new Uri("http://127.0.0.1:9115/probe?target=127.0.0.1:7000"), Ct);
        string unreachable = await http.GetStringAsync(new Uri("http://127.0.0.1:9115/probe?target=198.18.200.1:7003"), Ct);
        string metrics = await http.GetStringAsync(new Uri("http://127.0.0.1:9115/metrics"), Ct);
        Assert.Contains("tcpshaker_probe_status{status=\"open\"} 1\n", open, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_status{status=\"unreachable\"} 1\n", unreachable, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_watch_state{target=\"127.0.0.1:7002\",kind=\"silent\",state=\"down\"} 1\n", metrics, StringComparison.Ordinal);
        await AssertPromtoolAcceptsAsync(open);
        await AssertPromtoolAcceptsAsync(metrics);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    private static async Task<Dictionary<string, string>> QueryUntilAsync(HttpClient http, string query, string label, Dictionary<string, string> expected, Process prometheus, Task<string> prometheusErrors)
    {
        using var until = new CancellationTokenSource(Limit);
        var seen = new Dictionary<string, string>();
        while (!until.IsCancellationRequested)
        {
            if (prometheus.HasExited)
            {
                Assert.Fail($"prometheus exited with {prometheus.ExitCode}:\n{await prometheusErrors}");
            }

            try
            {
                string body = await http.GetStringAsync(new Uri("http://127.0.0.1:9090/api/v1/query?query=" + Uri.EscapeDataString(query)), Ct);
                using JsonDocument json = JsonDocument.Parse(body);
                seen = json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
                    .ToDictionary(r => r.GetProperty("metric").GetProperty(label).GetString()!, r => r.GetProperty("value")[1].GetString()!);
                if (seen.Count == expected.Count && expected.All(pair => seen.GetValueOrDefault(pair.Key) == pair.Value))
                {
                    return seen;
                }
            }
            catch (HttpRequestException)
            {
                // Prometheus is still starting.
            }

            await Task.Delay(250, Ct);
        }

        Assert.Fail($"{query} never became {string.Join(", ", expected)} within {Limit}; last seen {string.Join(", ", seen)}");
        return seen;
    }

    private static async Task AssertPromtoolAcceptsAsync(string exposition)
    {
        var info = new ProcessStartInfo(Sh.Which("promtool")!, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process promtool = Process.Start(info)!;
        await promtool.StandardInput.WriteAsync(exposition);
        promtool.StandardInput.Close();
        string output = await promtool.StandardOutput.ReadToEndAsync(Ct) + await promtool.StandardError.ReadToEndAsync(Ct);
        await promtool.WaitForExitAsync(Ct).WaitAsync(Limit, Ct);
        Assert.True(promtool.ExitCode == 0 && output.Length == 0, $"promtool check metrics: exit {promtool.ExitCode}\n{output}\n--- exposition\n{exposition}");
    }

    /// <summary>An HTTP client whose sockets are made inside the namespace (so 127.0.0.1 is the namespace's loopback).</summary>
    private static HttpClient InsideClient(NetNamespace ns) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            Socket socket = ns.RunInside(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };

    private Process StartInside(NetNamespace ns, string file, params string[] args)
    {
        Process process = ToolRunner.Start("ip", ["netns", "exec", ns.Name, file, .. args], workingDirectory: _dir);
        _processes.Add(process);
        return process;
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
