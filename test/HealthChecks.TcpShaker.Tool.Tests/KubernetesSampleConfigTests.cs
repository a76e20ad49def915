using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Tool.Prober;
using HealthChecks.TcpShaker.Tool.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// The files samples/kubernetes gives serve (from its ConfigMaps) are ones serve runs with, and do what their
/// comments say: the Deployment's allow-list refuses what it does not list, the DaemonSet's module checks in raw
/// SYN mode, its targets file is a file_sd file serve reads. (Their Kubernetes side: Docs.Tests' KubernetesSampleTests.)
/// </summary>
public sealed class KubernetesSampleConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tcp-shaker-k8s-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(20) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task The_Deployments_modules_file_starts_serve_whose_allow_list_refuses_a_network_it_does_not_list()
    {
        string config = Write("blackbox.yml", ConfigMapData("prober.yaml", "blackbox.yml"));
        using LoopbackListener listener = ListenerOnAnAllowedPort();
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        // 127.0.0.1 is not among the sample's networks (the cluster's private ranges), though the port is allowed.
        (HttpStatusCode status, string body) = await GetAsync(prober, $"/probe?module=tcp_connect&target={listener.EndPoint}");
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {body}");
        Assert.StartsWith("Target refused", body, StringComparison.Ordinal);
        Assert.Equal(0, listener.DrainAcceptQueue());

        (HttpStatusCode other, string port) = await GetAsync(prober, "/probe?module=tcp_connect_v6&target=[::1]:22");
        Assert.Equal(HttpStatusCode.BadRequest, other);
        Assert.Contains("refused", port, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(prober, "/metrics")).Status);
    }

    [Fact]
    public async Task The_DaemonSets_module_checks_in_raw_SYN_mode_and_its_targets_file_is_one_serve_reads()
    {
        IReadOnlyList<FileSdTarget> targets = FileSdParser.Parse(ConfigMapData("prober-daemonset.yaml", "targets.yml"), "targets.yml", TargetAllowList.Everything);
        Assert.Equal(3, targets.Count);
        Assert.All(targets, t => Assert.Contains(t.Labels, l => l.Key == "service"));

        string? noRaw = Testing.RawSocketAccess.SkipReason();
        Assert.SkipWhen(noRaw is not null, noRaw ?? "");
        string config = Write("blackbox.yml", ConfigMapData("prober-daemonset.yaml", "blackbox.yml"));
        using var listener = new LoopbackListener();
        await using RunningProber prober = await RunningProber.StartAsync("--config", config);

        (HttpStatusCode status, string body) = await GetAsync(prober, $"/probe?module=tcp_raw&target={listener.EndPoint}");

        Assert.True(status == HttpStatusCode.OK, $"{(int)status} {body}");
        Assert.Contains("\nprobe_success 1\n", body, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_probe_mode{mode=\"raw_syn\"} 1\n", body, StringComparison.Ordinal);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    /// <summary>A loopback listener on a port the sample's allow-list lists (8000-8999), whichever is free.</summary>
    private static LoopbackListener ListenerOnAnAllowedPort()
    {
        for (int port = 8_900; port < 9_000; port++)
        {
            try
            {
                return new LoopbackListener(port: port);
            }
            catch (SocketException)
            {
                // taken; the next
            }
        }

        throw new InvalidOperationException("no free loopback port in 8900-8999");
    }

    /// <summary>A key of the ConfigMap in a file of samples/kubernetes.</summary>
    private static string ConfigMapData(string file, string key)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(ToolRunner.RepositoryRoot, "samples", "kubernetes", file))));
        YamlMappingNode configMap = stream.Documents.Select(d => (YamlMappingNode)d.RootNode)
            .Single(d => d.Children[new YamlScalarNode("kind")].ToString() == "ConfigMap");
        return ((YamlScalarNode)((YamlMappingNode)configMap.Children[new YamlScalarNode("data")]).Children[new YamlScalarNode(key)]).Value!;
    }

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(RunningProber prober, string pathAndQuery)
    {
        using HttpResponseMessage response = await _http.GetAsync(new Uri(prober.BaseAddress, pathAndQuery), Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
