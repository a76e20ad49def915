using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>
/// The gateway sample run as its users run it (the built app as a process), on free loopback ports: it starts its
/// backends, routes, shows each destination's health, and takes a stopped backend out of rotation.
/// </summary>
public sealed class GatewaySampleTests
{
    private sealed record DestinationView(string Cluster, string Destination, string Address, string Health, bool Available, bool Running, long Connections, long Requests);

    [Fact]
    public async Task The_gateway_routes_shows_health_and_takes_a_stopped_backend_out_of_rotation()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        int port = FreePort();
        int[] backends = [FreePort(), FreePort(), FreePort()];
        var output = new StringBuilder();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(GatewayDll())!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(GatewayDll());
        start.ArgumentList.Add($"--Urls=http://127.0.0.1:{port}");
        for (int i = 0; i < 3; i++)
        {
            start.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"--ReverseProxy:Clusters:shop:Destinations:backend-{i + 1}:Address=http://127.0.0.1:{backends[i]}/"));
        }

        start.Environment.Remove("ASPNETCORE_URLS");
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

            // Interval 2 s, rise 2, FastInterval 0.5 s: healthy within about 2.5 s of start; 30 s for a cold start on a busy machine.
            await WaitAsync(client, views => views.Count == 3 && views.All(v => v.Health == "Healthy"), TimeSpan.FromSeconds(30), process, output, cancel);
            string page = await client.GetStringAsync(new Uri("/", UriKind.Relative), cancel);
            Assert.Contains("half-open", page, StringComparison.Ordinal);
            await AssertPageLooksLikeTheDashboardAsync(client, page, cancel);

            var served = new HashSet<string>();
            for (int i = 0; i < 6; i++)
            {
                served.Add((await client.GetStringAsync(new Uri("/shop/x", UriKind.Relative), cancel)).Split(' ')[0]);
            }

            Assert.Equal(3, served.Count);

            using (HttpResponseMessage stop = await client.PostAsync(new Uri("/gateway/backends/backend-2/stop", UriKind.Relative), null, cancel))
            {
                Assert.Equal(HttpStatusCode.NoContent, stop.StatusCode);
            }

            // Fall 3: the first failure within one 2 s interval, two more 0.5 s apart: about 3 s; 15 s of room.
            await WaitAsync(client, views => views.Single(v => v.Destination == "backend-2").Health == "Unhealthy", TimeSpan.FromSeconds(15), process, output, cancel);
            for (int i = 0; i < 6; i++)
            {
                using HttpResponseMessage response = await client.GetAsync(new Uri("/shop/x", UriKind.Relative), cancel);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.DoesNotContain("backend-2", await response.Content.ReadAsStringAsync(cancel), StringComparison.Ordinal);
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// The page as served: the sample dashboard's palette in a stylesheet it links, no empty log box before
    /// anything was sent, and a link whose text says where it goes.
    /// </summary>
    private static async Task AssertPageLooksLikeTheDashboardAsync(HttpClient client, string page, CancellationToken cancel)
    {
        Match stylesheet = Regex.Match(page, @"<link rel=""stylesheet"" href=""([^""]+)"">");
        Assert.True(stylesheet.Success, "the page links no stylesheet");
        using HttpResponseMessage css = await client.GetAsync(new Uri("/" + stylesheet.Groups[1].Value, UriKind.Relative), cancel);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        string dashboard = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "samples", "HealthChecks.TcpShaker.Sample", "wwwroot", "dashboard.css"), cancel);
        Assert.Equal(RootBlock(dashboard), RootBlock(await css.Content.ReadAsStringAsync(cancel)));

        // The log is hidden until it has a line: no empty box under the button before the first click.
        Match log = Regex.Match(page, @"<div id=""log""([^>]*)>(.*?)</div>", RegexOptions.Singleline);
        Assert.True(log.Success, "no #log element");
        Assert.Contains(" hidden", log.Groups[1].Value, StringComparison.Ordinal);
        Assert.Contains("log.hidden = false", page, StringComparison.Ordinal);

        // Every link names where it goes: its text holds its path, not "/shop/…".
        MatchCollection links = Regex.Matches(page, @"<a href=""([^""]+)"">([^<]*)</a>");
        Assert.NotEmpty(links);
        Assert.All(links, link => Assert.Contains(link.Groups[1].Value, link.Groups[2].Value, StringComparison.Ordinal));
    }

    /// <summary>A stylesheet's <c>:root { ... }</c> block (the palette), whitespace-normalized.</summary>
    private static string RootBlock(string css)
    {
        Match root = Regex.Match(css, @":root\s*\{[^}]*\}");
        Assert.True(root.Success, "no :root block");
        return Regex.Replace(root.Value, @"\s+", " ");
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "samples", "HealthChecks.TcpShaker.Gateway")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No samples/HealthChecks.TcpShaker.Gateway above {AppContext.BaseDirectory}.");
    }

    private static async Task WaitAsync(HttpClient client, Func<List<DestinationView>, bool> condition, TimeSpan limit, Process process, StringBuilder output, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            Assert.False(process.HasExited, $"The gateway exited:\n{output}");
            try
            {
                List<DestinationView>? views = await client.GetFromJsonAsync<List<DestinationView>>(new Uri("/gateway/destinations", UriKind.Relative), cancel);
                if (views is not null && condition(views))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(100, cancel);
        }

        throw new TimeoutException($"The gateway did not get there within {limit}:\n{output}");
    }

    /// <summary>The gateway's own build output, next to this test project's (same configuration).</summary>
    private static string GatewayDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = output.Name;
        string configuration = output.Parent!.Name;
        for (DirectoryInfo? dir = output; dir is not null; dir = dir.Parent)
        {
            string project = Path.Combine(dir.FullName, "samples", "HealthChecks.TcpShaker.Gateway");
            if (Directory.Exists(project))
            {
                return Path.Combine(project, "bin", configuration, framework, "HealthChecks.TcpShaker.Gateway.dll");
            }
        }

        throw new DirectoryNotFoundException($"No samples/HealthChecks.TcpShaker.Gateway above {output.FullName}.");
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
