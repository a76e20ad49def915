using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// <c>serve</c>'s /probe beside Debian's real blackbox exporter (0.23) on the same targets: every series the
/// exporter's TCP module answers is in serve's answer, with the same value where the value is not a time
/// (success, protocol, address hash), so dashboards and alerts written for the exporter keep working.
/// </summary>
public sealed class BlackboxParityTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static readonly string[] TimeSeries = ["probe_duration_seconds", "probe_dns_lookup_time_seconds"];
    private readonly string _dir = Directory.CreateTempSubdirectory("tcp-shaker-blackbox-").FullName;
    private readonly HttpClient _http = new() { Timeout = Limit };
    private Process? _exporter;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (_exporter is { HasExited: false })
        {
            _exporter.Kill(entireProcessTree: true);
            _exporter.WaitForExit(5000);
        }

        _exporter?.Dispose();
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Every_series_of_the_blackbox_exporters_tcp_probe_is_answered_with_the_same_value()
    {
        string? exporter = Sh.Which("prometheus-blackbox-exporter");
        Assert.SkipWhen(exporter is null, "Debian's 'prometheus-blackbox-exporter' is not installed (CI installs it)");
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        string modules = Path.Combine(_dir, "blackbox.yml");
        File.WriteAllText(modules, "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n  tcp_ip4:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n");
        Uri blackbox = await StartExporterAsync(exporter!, modules);
        await using RunningProber prober = await RunningProber.StartAsync("--config", modules);

        string[] probes =
        [
            $"target={listener.EndPoint}&module=tcp_connect",
            $"target={closed.EndPoint}&module=tcp_connect",
            $"target=localhost:{listener.Port}&module=tcp_ip4",
            $"target=[::1]:{closed.EndPoint.Port}&module=tcp_connect",
        ];
        foreach (string query in probes)
        {
            Dictionary<string, double> theirs = Parse(await _http.GetStringAsync(new Uri(blackbox, "/probe?" + query), Ct));
            Dictionary<string, double> ours = Parse(await _http.GetStringAsync(new Uri(prober.BaseAddress, "/probe?" + query), Ct));
            foreach ((string series, double value) in theirs)
            {
                Assert.True(ours.ContainsKey(series), $"{query}: serve has no {series}");
                if (!TimeSeries.Contains(series))
                {
                    Assert.True(ours[series] == value, $"{query}: {series} is {ours[series]} here and {value} in the blackbox exporter");
                }
            }
        }

        Assert.Equal(2, listener.DrainAcceptQueue()); // the exporter's two full connections; none of serve's
    }

    private async Task<Uri> StartExporterAsync(string exporter, string modules)
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        _exporter = ToolRunner.Start(exporter, [$"--config.file={modules}", $"--web.listen-address=127.0.0.1:{port}"], workingDirectory: _dir);
        var address = new Uri($"http://127.0.0.1:{port}");
        using var until = new CancellationTokenSource(Limit);
        while (true)
        {
            try
            {
                using HttpResponseMessage response = await _http.GetAsync(new Uri(address, "/-/healthy"), until.Token);
                if (response.IsSuccessStatusCode)
                {
                    return address;
                }
            }
            catch (HttpRequestException) when (!_exporter.HasExited)
            {
                // Not listening yet.
            }

            await Task.Delay(50, until.Token);
        }
    }

    /// <summary>Samples by series (name and labels), from the text format.</summary>
    private static Dictionary<string, double> Parse(string exposition) =>
        exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.StartsWith('#'))
            .Select(line => line.Split(' '))
            .ToDictionary(parts => parts[0], parts => double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
}
