using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>The probes in samples/kubernetes/deployment.yaml, called on the sample as the kubelet would.</summary>
public sealed partial class KubernetesManifestTests
{
    [GeneratedRegex(@"^\s*(?<probe>readinessProbe|livenessProbe|startupProbe):\s*\n\s*httpGet:\s*\n\s*path:\s*(?<path>\S+)", RegexOptions.Multiline)]
    private static partial Regex HttpProbe();

    private static Dictionary<string, string> Probes()
    {
        string manifest = File.ReadAllText(Path.Combine(RepositoryRoot(), "samples", "kubernetes", "deployment.yaml"));
        return HttpProbe().Matches(manifest).ToDictionary(m => m.Groups["probe"].Value, m => m.Groups["path"].Value);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "samples", "kubernetes")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("samples/kubernetes not found above the test output.");
    }

    private static async Task<HttpStatusCode> ProbeAsync(LoopbackListener self, IPEndPoint dependency, string path)
    {
        await using WebApplicationFactory<Program> factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web
            .UseSetting("HealthChecks:SelfHttp:Endpoints:0", self.EndPoint.ToString())
            .UseSetting("HealthChecks:Dependencies:Endpoints:0", dependency.ToString()));
        using HttpClient client = factory.CreateClient();
        using HttpResponseMessage response = await client.GetAsync(path, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    [Fact]
    public void The_manifest_probes_readiness_on_readyz_and_liveness_on_livez()
    {
        Dictionary<string, string> probes = Probes();

        Assert.Equal("/readyz", probes["readinessProbe"]);
        Assert.Equal("/livez", probes["livenessProbe"]);
        Assert.Equal("/livez", probes["startupProbe"]);
    }

    [Fact]
    public async Task A_dependency_outage_fails_readiness_only_and_its_return_makes_the_pod_ready()
    {
        Dictionary<string, string> probes = Probes();
        using var self = new LoopbackListener();
        using var dependency = new LoopbackListener();
        using var closed = new ClosedPort();

        // The dependency is down: out of the Service, but not restarted.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await ProbeAsync(self, closed.EndPoint, probes["readinessProbe"]));
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(self, closed.EndPoint, probes["livenessProbe"]));

        // The dependency answers: ready.
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(self, dependency.EndPoint, probes["readinessProbe"]));
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(self, dependency.EndPoint, probes["livenessProbe"]));
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(0, dependency.DrainAcceptQueue());
            Assert.Equal(0, self.DrainAcceptQueue());
        }
    }
}
