using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// The package as a user gets it: <c>dotnet pack</c>, <c>dotnet tool install</c> from a local folder,
/// then the installed <c>tcp-shaker</c>. Slow (a Release build and a restore): trait Category=Pack,
/// so it can be left out with <c>--filter "Category!=Pack"</c>.
/// </summary>
public sealed class PackTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    [Fact]
    [Trait("Category", "Pack")]
    public async Task Packed_tool_installs_and_checks_a_listener()
    {
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
            string project = Path.Combine(ToolRunner.RepositoryRoot, "src", "HealthChecks.TcpShaker.Tool", "HealthChecks.TcpShaker.Tool.csproj");

            // No build servers: a lingering MSBuild node or compiler server would hold our output pipes open.
            ToolRun pack = await ToolRunner.RunProcessAsync(
                "dotnet",
                ["pack", project, "-c", "Release", "-o", feed, "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v", "q"],
                Limit,
                environment);
            Assert.True(pack.ExitCode == 0, pack.ToString());
            string package = Assert.Single(Directory.GetFiles(feed, "HealthChecks.TcpShaker.Tool.*.nupkg"));
            string version = Path.GetFileNameWithoutExtension(package)["HealthChecks.TcpShaker.Tool.".Length..];

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
}
