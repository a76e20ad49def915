using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// The built sample run as a real process (<c>dotnet HealthChecks.TcpShaker.Sample.dll --urls ...</c>) on a
/// free loopback port, its content root its own output folder, as a published app runs. Its self-http
/// check follows <c>--urls</c> to that real port; its dependency is a closed port this fixture holds.
/// </summary>
public sealed class RunningSample : IAsyncLifetime
{
    private readonly StringBuilder _output = new();
    private readonly string[] _launcher;
    private Process? _process;

    /// <summary>The sample as <c>dotnet</c> runs it.</summary>
    public RunningSample()
        : this([])
    {
    }

    /// <summary>
    /// The sample run through <paramref name="launcher"/> (a program and its arguments, such as
    /// <c>capsh --drop=cap_net_raw -- -c</c>), which gets the <c>dotnet ...</c> command line as its last argument.
    /// </summary>
    internal RunningSample(string[] launcher) => _launcher = launcher;

    public ClosedPort Dependency { get; } = new();

    public Uri BaseAddress { get; private set; } = null!;

    public int Port { get; private set; }

    public string DependencyEndpoint => Dependency.EndPoint.ToString();

    /// <summary>What the app wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async ValueTask InitializeAsync()
    {
        string dll = SampleDll();
        Port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        string[] arguments = [dll, "--urls", BaseAddress.ToString().TrimEnd('/'), $"--HealthChecks:Dependencies:Endpoints:0={DependencyEndpoint}"];
        var start = new ProcessStartInfo(_launcher.Length == 0 ? dotnet : _launcher[0])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A launcher runs a shell command line: every argument quoted (none holds a quote).
        IEnumerable<string> argumentList = _launcher.Length == 0
            ? arguments
            : [.. _launcher.Skip(1), "exec " + string.Join(' ', arguments.Prepend(dotnet).Select(a => $"'{a}'"))];
        foreach (string argument in argumentList)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The sample exited with code {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using HttpResponseMessage response = await client.GetAsync(new Uri("livez", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The sample did not answer /livez on {BaseAddress} within 60 s:\n{Output}");
    }

    /// <summary>Waits (at most <paramref name="limit"/>) until the app has written <paramref name="text"/>; whether it has.</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > limit)
            {
                return false;
            }

            await Task.Delay(50, cancellationToken);
        }

        return true;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>The sample's own build output, next to this test project's (same configuration).</summary>
    private static string SampleDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = output.Name;
        string configuration = output.Parent!.Name;
        for (DirectoryInfo? dir = output; dir is not null; dir = dir.Parent)
        {
            string project = Path.Combine(dir.FullName, "samples", "HealthChecks.TcpShaker.Sample");
            if (Directory.Exists(project))
            {
                string dll = Path.Combine(project, "bin", configuration, framework, "HealthChecks.TcpShaker.Sample.dll");
                return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build the sample first: {dll} is missing.", dll);
            }
        }

        throw new DirectoryNotFoundException($"No samples/HealthChecks.TcpShaker.Sample above {output.FullName}.");
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }

        Dependency.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RunningSampleGroup : ICollectionFixture<RunningSample>
{
    public const string Name = "running sample";
}
