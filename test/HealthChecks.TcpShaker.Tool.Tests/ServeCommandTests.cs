using System.Net;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary><c>tcp-shaker serve</c> in-process on loopback: /probe's answers and refusals, the modules file, the targets file and its reloads.</summary>
public sealed class ServeCommandTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("tcp-shaker-serve-").FullName;
    private readonly HttpClient _http = new() { Timeout = Limit };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Probe_of_an_open_and_a_refused_port_answers_the_blackbox_series_and_the_listener_accepts_nothing()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        await using RunningProber prober = await RunningProber.StartAsync();

        string open = await GetAsync(prober, $"/probe?target={listener.EndPoint}&module=tcp_connect", HttpStatusCode.OK);
        string refused = await GetAsync(prober, $"/probe?target={closed.EndPoint}", HttpStatusCode.OK);

        Assert.Contains("\nprobe_success 1\n", open, StringComparison.Ordinal);
        Assert.Contains("\nprobe_ip_protocol 4\n", open, StringComparison.Ordinal);
        // FNV-1a over 127.0.0.1's four bytes, as the blackbox exporter's ipHash computes it.
        Assert.Contains("\nprobe_ip_addr_hash 3668918509\n", open, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_status{status=\"open\"} 1\n", open, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_mode{mode=\"half_open\"} 1\n", open, StringComparison.Ordinal);
        Assert.Matches(@"\nprobe_duration_seconds \d", open);
        Assert.Contains("\nprobe_success 0\n", refused, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_status{status=\"refused\"} 1\n", refused, StringComparison.Ordinal);
        Assert.Equal(0, listener.DrainAcceptQueue());

        string metrics = await GetAsync(prober, "/metrics", HttpStatusCode.OK);
        Assert.Contains("tcpshaker_prober_probes_total{module=\"tcp_connect\",status=\"open\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_probes_total{module=\"tcp_connect\",status=\"refused\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_targets_unknown_modules_and_a_bad_timeout_header_are_refused_with_a_sentence()
    {
        await using RunningProber prober = await RunningProber.StartAsync();

        Assert.Equal("Target parameter is missing\n", await GetAsync(prober, "/probe", HttpStatusCode.BadRequest));
        Assert.Equal("Target parameter is missing\n", await GetAsync(prober, "/probe?target=", HttpStatusCode.BadRequest));
        Assert.Equal("Bad target: 'nonsense' is not a valid TCP endpoint: no port: expected host:port.\n", await GetAsync(prober, "/probe?target=nonsense", HttpStatusCode.BadRequest));
        Assert.StartsWith("Bad target: '127.0.0.1:99999' is not a valid TCP endpoint", await GetAsync(prober, "/probe?target=127.0.0.1:99999", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Equal("Unknown module \"http_2xx\": the prober has tcp_connect.\n", await GetAsync(prober, "/probe?target=127.0.0.1:80&module=http_2xx", HttpStatusCode.BadRequest));

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(prober.BaseAddress, "/probe?target=127.0.0.1:80"));
        request.Headers.Add("X-Prometheus-Scrape-Timeout-Seconds", "soon");
        using HttpResponseMessage response = await _http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.StartsWith("Failed to parse timeout from Prometheus header:", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        string metrics = await GetAsync(prober, "/metrics", HttpStatusCode.OK);
        Assert.Contains("tcpshaker_prober_requests_refused_total{reason=\"bad_target\"} 4\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_requests_refused_total{reason=\"unknown_module\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_requests_refused_total{reason=\"bad_timeout\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("tcpshaker_prober_probes_total{", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_allow_list_refuses_ports_and_addresses_outside_it_with_400()
    {
        using var listener = new LoopbackListener();
        string config = Write("allow.yml", $"""
            modules:
              tcp_connect:
                prober: tcp
                timeout: 2s
            tcp_shaker:
              allow:
                networks: [127.0.0.0/8]
                ports: [{listener.Port}]
            """);
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        Assert.Contains("\nprobe_success 1\n", await GetAsync(prober, $"/probe?target={listener.EndPoint}", HttpStatusCode.OK), StringComparison.Ordinal);
        Assert.Equal($"Target 127.0.0.1:1 refused: port 1 is not in the prober's allow-list (tcp_shaker.allow.ports).\n", await GetAsync(prober, "/probe?target=127.0.0.1:1", HttpStatusCode.BadRequest));
        Assert.Equal($"Target refused: target [::1]:{listener.Port} resolves to address ::1 is not in the prober's allow-list (tcp_shaker.allow.networks).\n", await GetAsync(prober, $"/probe?target=[::1]:{listener.Port}", HttpStatusCode.BadRequest));
        Assert.Contains("tcpshaker_prober_requests_refused_total{reason=\"not_allowed\"} 2\n", await GetAsync(prober, "/metrics", HttpStatusCode.OK), StringComparison.Ordinal);
    }

    [Fact]
    public async Task More_probes_than_max_concurrent_probes_are_answered_503_while_the_first_runs()
    {
        using var silent = new SilentTarget();
        string config = Write("one.yml", """
            modules:
              slow:
                prober: tcp
                timeout: 3s
            tcp_shaker:
              max_concurrent_probes: 1
            """);
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        Task<string> first = GetAsync(prober, $"/probe?target={silent.EndPoint}&module=slow", HttpStatusCode.OK);
        await MetricsUntilAsync(prober, "tcpshaker_prober_probes_in_flight 1\n");

        using HttpResponseMessage response = await _http.GetAsync(new Uri(prober.BaseAddress, $"/probe?target={silent.EndPoint}&module=slow"), Ct);
        string busy = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
        Assert.Equal("The prober is running its limit of 1 probes (tcp_shaker.max_concurrent_probes); try again.\n", busy);
        string answer = await first;
        Assert.Contains("\nprobe_success 0\n", answer, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_status{status=\"timeout\"} 1\n", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_raw_syn_module_checks_with_raw_syns_where_the_process_may_and_says_so_where_not()
    {
        using var listener = new LoopbackListener();
        string config = Write("raw.yml", """
            modules:
              tcp_raw:
                prober: tcp
                timeout: 2s
                tcp_shaker:
                  mode: raw_syn
            """);
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        string answer = await GetAsync(prober, $"/probe?target={listener.EndPoint}&module=tcp_raw", HttpStatusCode.OK);

        Assert.Contains("\nprobe_success 1\n", answer, StringComparison.Ordinal);
        if (RawSocketAccess.SkipReason() is null)
        {
            Assert.Contains("tcpshaker_probe_mode{mode=\"raw_syn\"} 1\n", answer, StringComparison.Ordinal);
            Assert.DoesNotContain("raw_syn:", prober.Error, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("tcpshaker_probe_mode{mode=\"half_open\"} 1\n", answer, StringComparison.Ordinal);
            Assert.Contains("raw_syn modules check in half_open mode.", prober.Error, StringComparison.Ordinal);
        }

        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Theory]
    [InlineData("query_response", "    tcp:\n      query_response:\n        - expect: \"^SSH-2.0-\"\n", "module 'ssh_banner': tcp.query_response: a half-open probe sends no data and reads none")]
    [InlineData("tls", "    tcp:\n      tls: true\n", "module 'ssh_banner': tcp.tls: a half-open probe never completes the handshake, so it cannot speak TLS")]
    [InlineData("source_ip_address", "    tcp:\n      source_ip_address: 127.0.0.2\n", "module 'ssh_banner': tcp.source_ip_address: the engine does not bind a source address")]
    [InlineData("unknown tcp key", "    tcp:\n      preferred_ip_protcol: ip4\n", "module 'ssh_banner': tcp.preferred_ip_protcol: unknown key")]
    [InlineData("bad mode", "    tcp_shaker:\n      mode: stealth\n", "module 'ssh_banner': tcp_shaker.mode: 'stealth' is not a mode (half_open, raw_syn or full_connect).")]
    [InlineData("bad timeout", "    timeout: soon\n", "module 'ssh_banner': timeout: 'soon' is not a duration")]
    public async Task A_config_asking_for_what_a_half_open_probe_cannot_do_is_refused_at_start_naming_module_and_key(string why, string moduleBody, string expected)
    {
        _ = why;
        string config = Write("modules.yml", "modules:\n  ssh_banner:\n    prober: tcp\n" + moduleBody);

        ToolRun run = await ToolRunner.RunAsync(["serve", "--listen", "127.0.0.1:0", "--config", config], cancellationToken: Ct);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.StartsWith($"tcp-shaker serve: --config {config}:", run.Error, StringComparison.Ordinal);
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
        Assert.Empty(run.Out);
    }

    [Fact]
    public async Task A_blackbox_modules_file_with_other_probers_serves_its_tcp_modules_and_notes_the_rest()
    {
        using var listener = new LoopbackListener();
        string config = Write("blackbox.yml", """
            modules:
              http_2xx:
                prober: http
                http:
                  preferred_ip_protocol: "ip4"
              tcp_connect:
                prober: tcp
                timeout: 5s
                tcp:
                  preferred_ip_protocol: ip4
                  ip_protocol_fallback: false
              icmp:
                prober: icmp
            """);
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        Assert.Contains("\nprobe_success 1\n", await GetAsync(prober, $"/probe?target=localhost:{listener.Port}&module=tcp_connect", HttpStatusCode.OK), StringComparison.Ordinal);
        Assert.Equal("Unknown module \"http_2xx\": the prober has tcp_connect.\n", await GetAsync(prober, "/probe?target=127.0.0.1:80&module=http_2xx", HttpStatusCode.BadRequest));
        Assert.Contains("module 'http_2xx' skipped: it is 'prober: http', and serve runs 'prober: tcp' modules only.", prober.Error, StringComparison.Ordinal);
        Assert.Contains("module 'icmp' skipped: it is 'prober: icmp'", prober.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_listen_address_that_is_not_one_or_is_taken_stops_serve_with_the_reason()
    {
        using var taken = new LoopbackListener();

        ToolRun bad = await ToolRunner.RunAsync(["serve", "--listen", "localhost:9115"], cancellationToken: Ct);
        ToolRun busy = await ToolRunner.RunAsync(["serve", "--listen", taken.EndPoint.ToString()], cancellationToken: Ct);

        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Contains("--listen: 'localhost:9115' is not an address and port (write it as 127.0.0.1:9115, [::1]:9115 or :9115).", bad.Error, StringComparison.Ordinal);
        Assert.True(busy.ExitCode == 2, busy.ToString());
        Assert.StartsWith($"tcp-shaker serve: --listen {taken.EndPoint}: ", busy.Error, StringComparison.Ordinal);
        Assert.Contains("address already in use", busy.Error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_targets_file_that_is_not_valid_at_start_stops_serve_with_the_reason()
    {
        string targets = Write("targets.json", """[{"targets": ["127.0.0.1:80", "no-port"]}]""");

        ToolRun run = await ToolRunner.RunAsync(["serve", "--listen", "127.0.0.1:0", "--targets", targets], cancellationToken: Ct);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Equal($"tcp-shaker serve: --targets {targets}: group 1: 'no-port' is not a valid TCP endpoint: no port: expected host:port.\n", run.Error);
    }

    [Fact]
    public async Task A_targets_file_rewritten_while_watched_is_followed_and_a_bad_rewrite_keeps_the_last_good_watches()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        string config = Write("watch.yml", """
            tcp_shaker:
              watch:
                interval: 100ms
                rise: 1
                fall: 1
            """);
        string targets = Write("targets.yml", $"""
            - targets: ["{listener.EndPoint}"]
              labels:
                env: prod
                __meta_dropped: x
            """);
        await using RunningProber prober = await RunningProber.StartAsync("--config", config, "--targets", targets);
        await MetricsUntilAsync(prober, $"tcpshaker_watch_up{{target=\"{listener.EndPoint}\",env=\"prod\"}} 1\n");

        File.WriteAllText(targets, "- targets: [\"127.0.0.1:80\"\n  labels: {env: [not, a, string]}\n");
        string kept = await MetricsUntilAsync(prober, "tcpshaker_prober_targets_file_reloads_total{result=\"failure\"} 1\n");
        Assert.Contains($"tcpshaker_watch_up{{target=\"{listener.EndPoint}\",env=\"prod\"}} 1\n", kept, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_targets_file_last_reload_successful 0\n", kept, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_watches 1\n", kept, StringComparison.Ordinal);
        Assert.Contains($"tcp-shaker serve: targets file not reloaded: {targets}:", prober.Error, StringComparison.Ordinal);
        Assert.Contains("Keeping the 1 watches of the last good read.", prober.Error, StringComparison.Ordinal);

        File.WriteAllText(targets, $"""
            - targets: ["{closed.EndPoint}"]
              labels: {"{"}env: staging{"}"}
            """);
        string next = await MetricsUntilAsync(prober, $"tcpshaker_watch_state{{target=\"{closed.EndPoint}\",env=\"staging\",state=\"down\"}} 1\n");
        Assert.DoesNotContain(listener.EndPoint.ToString(), next, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_targets_file_last_reload_successful 1\n", next, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_prober_targets_file_reloads_total{result=\"success\"} 2\n", next, StringComparison.Ordinal);
        Assert.Matches($@"tcpshaker_watch_changes_total\{{target=""{closed.EndPoint}"",env=""staging""\}} 1\n", next);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    private async Task<string> MetricsUntilAsync(RunningProber prober, string expected)
    {
        using var until = new CancellationTokenSource(Limit);
        string metrics = string.Empty;
        while (!metrics.Contains(expected, StringComparison.Ordinal))
        {
            if (until.IsCancellationRequested)
            {
                Assert.Fail($"/metrics never had {expected.Trim()} within {Limit}:\n{metrics}\nstderr:\n{prober.Error}");
            }

            metrics = await GetAsync(prober, "/metrics", HttpStatusCode.OK);
            if (!metrics.Contains(expected, StringComparison.Ordinal))
            {
                await Task.Delay(50, Ct);
            }
        }

        return metrics;
    }

    private async Task<string> GetAsync(RunningProber prober, string pathAndQuery, HttpStatusCode expected)
    {
        using HttpResponseMessage response = await _http.GetAsync(new Uri(prober.BaseAddress, pathAndQuery), Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{pathAndQuery}: {(int)response.StatusCode} {body}");
        return body;
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
