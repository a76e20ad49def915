using System.Text.Json;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// The packages as a user gets them: <c>eng/pack.sh</c> run as the README shows it, with no
/// <c>RIDS</c> (every packable project's package, the tool's pointer package, its native linux-x64
/// package and its framework-dependent fallback; linux-arm64 only where the machine can link it, and
/// a sentence saying why otherwise), <c>dotnet tool install</c> from a local folder, then the
/// installed <c>tcp-shaker</c>, which must be the native executable. Slow (Release builds, a native
/// AOT compile and a restore), so one run serves every assertion: trait Category=Pack, so it can be
/// left out with <c>--filter "Category!=Pack"</c>. Native AOT needs clang; without it the test skips.
/// </summary>
public sealed class PackTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    [Fact]
    [Trait("Category", "Pack")]
    public async Task Packed_tool_installs_as_a_native_executable_and_checks_a_listener()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.X64,
            "the native tool package is built for linux-x64 here");
        Assert.SkipWhen(FindOnPath("clang") is null, "native AOT needs clang (Debian: apt-get install clang zlib1g-dev)");
        DirectoryInfo work = Directory.CreateTempSubdirectory("tcp-shaker-pack-");
        try
        {
            string feed = Path.Combine(work.FullName, "feed");
            string tools = Path.Combine(work.FullName, "tools");
            // A package folder of its own: a stale HealthChecks.TcpShaker.Tool of the same version in
            // the user's cache must not stand in for the one just packed.
            var environment = new Dictionary<string, string>
            {
                ["NUGET_PACKAGES"] = Path.Combine(work.FullName, "packages"),
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
            };
            string script = Path.Combine(ToolRunner.RepositoryRoot, "eng", "pack.sh");

            // No build servers: a lingering MSBuild node or compiler server would hold our output pipes open.
            environment["MSBUILDDISABLENODEREUSE"] = "1";
            environment["UseSharedCompilation"] = "false";
            ToolRun pack = await ToolRunner.RunProcessAsync("bash", [script, feed], Limit, environment);
            Assert.True(pack.ExitCode == 0, pack.ToString());
            Assert.DoesNotMatch(@"(?i)\bwarning\s*[A-Z]*\d*\s*:", pack.Out);
            string package = Assert.Single(Directory.GetFiles(feed, "HealthChecks.TcpShaker.Tool.0*.nupkg"));
            string version = Path.GetFileNameWithoutExtension(package)["HealthChecks.TcpShaker.Tool.".Length..];
            Assert.True(File.Exists(Path.Combine(feed, $"HealthChecks.TcpShaker.Tool.linux-x64.{version}.nupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"HealthChecks.TcpShaker.Tool.any.{version}.nupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"HealthChecks.TcpShaker.{version}.snupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"tcp-shaker-{version}-linux-x64.tar.gz")));

            // Every packable project under src/ (a new one included, without a change to the script).
            IReadOnlyList<string> packable = await PackableProjectsAsync(environment);
            Assert.Contains("HealthChecks.TcpShaker.Yarp", packable);
            foreach (string id in packable)
            {
                Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.nupkg")), $"no {id}.{version}.nupkg in {string.Join(", ", Directory.GetFiles(feed).Select(Path.GetFileName))}\n{pack}");
            }

            // linux-arm64 is packed where the machine can link it, and skipped with the reason where not.
            if (!File.Exists(Path.Combine(feed, $"HealthChecks.TcpShaker.Tool.linux-arm64.{version}.nupkg")))
            {
                Assert.Matches(@"skipped linux-arm64: .*aarch64", pack.Out + pack.Error);
                Assert.False(File.Exists(Path.Combine(feed, $"tcp-shaker-{version}-linux-arm64.tar.gz")));
            }

            ToolRun install = await ToolRunner.RunProcessAsync(
                "dotnet",
                ["tool", "install", "--tool-path", tools, "--add-source", feed, "HealthChecks.TcpShaker.Tool", "--version", version],
                Limit,
                environment,
                workingDirectory: work.FullName);
            Assert.True(install.ExitCode == 0, install.ToString());
            Assert.Contains("tcp-shaker", install.Out, StringComparison.Ordinal);

            using var listener = new LoopbackListener();
            using var closed = new ClosedPort();
            string installed = Path.Combine(tools, "tcp-shaker");
            // The native executable itself, not a launcher that starts the .NET runtime on a dll.
            byte[] head = new byte[4];
            using (FileStream file = File.OpenRead(installed))
            {
                file.ReadExactly(head);
            }

            Assert.Equal("\u007fELF"u8.ToArray(), head);
            Assert.Contains(".linux-x64", new FileInfo(installed).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? string.Empty, StringComparison.OrdinalIgnoreCase);
            ToolRun open = await ToolRunner.RunProcessAsync(installed, ["check", listener.EndPoint.ToString()], Limit);
            ToolRun refused = await ToolRunner.RunProcessAsync(installed, ["check", closed.EndPoint.ToString()], Limit);
            ToolRun versionRun = await ToolRunner.RunProcessAsync(installed, ["--version"], Limit);

            Assert.True(open.ExitCode == 0, open.ToString());
            Assert.Contains("mode HalfOpen", open.Out, StringComparison.Ordinal);
            Assert.Contains("OPEN", open.Out, StringComparison.Ordinal);
            Assert.True(refused.ExitCode == 1, refused.ToString());
            Assert.StartsWith(version, versionRun.Out.Trim(), StringComparison.Ordinal);
            Assert.False(listener.HasPendingConnection);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>The package id of every project under src/ whose IsPackable is not false, as MSBuild evaluates it.</summary>
    private static async Task<IReadOnlyList<string>> PackableProjectsAsync(IDictionary<string, string> environment)
    {
        var ids = new List<string>();
        foreach (string project in Directory.GetFiles(Path.Combine(ToolRunner.RepositoryRoot, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            ToolRun properties = await ToolRunner.RunProcessAsync(
                "dotnet", ["msbuild", project, "-getProperty:IsPackable", "-getProperty:PackageId"], Limit, environment);
            Assert.True(properties.ExitCode == 0, properties.ToString());
            JsonElement values = properties.Json.GetProperty("Properties");
            if (!string.Equals(values.GetProperty("IsPackable").GetString(), "false", StringComparison.OrdinalIgnoreCase))
            {
                ids.Add(values.GetProperty("PackageId").GetString()!);
            }
        }

        return ids;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
