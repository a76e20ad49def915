using System.Diagnostics;
using System.Xml.Linq;

namespace HealthChecks.TcpShaker.Docs.Tests;

/// <summary>
/// Every C# snippet of README.md, docs/*.md and the package READMEs compiles, the way a reader
/// would use it: in a new web app that references the packed HealthChecks.TcpShaker package (from
/// a local folder), with nothing added but what the snippet itself says. A missing <c>using</c> fails.
/// All snippets build in one project, each in a method of its own (see <see cref="Snippets"/>).
/// </summary>
public sealed class SnippetTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    // The repository's packages a snippet may use, packed for the test at a version of its own.
    private static readonly string[] PackedProjects = ["HealthChecks.TcpShaker", "HealthChecks.TcpShaker.Yarp", "HealthChecks.TcpShaker.Aspire"];

    // The packages a snippet may use besides those, at the versions the repository uses.
    private static readonly string[] OtherPackages =
    [
        "AspNetCore.HealthChecks.UI.Client",
        "OpenTelemetry.Extensions.Hosting",
        "OpenTelemetry.Exporter.Prometheus.AspNetCore",
    ];

    [Fact]
    public void Blocks_are_found_with_their_kind_line_and_usings_kept_on_top()
    {
        const string markdown = "# T\n\n```csharp\nusing System.Net;\n\nvar x = IPAddress.Loopback;\n```\n\n<!-- snippet: fragment -->\n```csharp\napp.Run();\n```\n";

        List<Snippets.Snippet> found = Snippets.Extract("T.md", markdown);

        Assert.Equal(2, found.Count);
        Assert.Equal((4, Snippets.Kind.Program), (found[0].Line, found[0].Kind));
        Assert.Equal((11, Snippets.Kind.Fragment), (found[1].Line, found[1].Kind));
        string program = Snippets.ToSource(found[0], "T.md", 0);
        Assert.True(program.IndexOf("using System.Net;", StringComparison.Ordinal) < program.IndexOf("namespace Snippets;", StringComparison.Ordinal));
        Assert.Contains("#line 6 \"T.md\"\nvar x = IPAddress.Loopback;", program, StringComparison.Ordinal);
        Assert.Contains("WebApplication app", Snippets.ToSource(found[1], "T.md", 1), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Pack")]
    public async Task Every_csharp_snippet_in_the_docs_compiles_against_the_packed_package()
    {
        string root = RepositoryRoot;
        var snippets = new List<Snippets.Snippet>();
        foreach (string document in Snippets.Documents(root))
        {
            snippets.AddRange(Snippets.Extract(document, await File.ReadAllTextAsync(Path.Combine(root, document), TestContext.Current.CancellationToken)));
        }

        // The README alone has several; finding none would mean the extraction broke, not that all is well.
        Assert.True(snippets.Count(s => s.Document == "README.md") >= 3, string.Join(", ", snippets));

        DirectoryInfo work = Directory.CreateTempSubdirectory("tcp-shaker-snippets-");
        // A version of its own, so the package cache cannot hand back an older build of the same version.
        string version = $"0.0.0-snippets.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        string[] cached = [.. PackedProjects.Select(id => Path.Combine(PackagesFolder, id.ToLowerInvariant(), version))];
        try
        {
            string feed = Path.Combine(work.FullName, "feed");
            foreach (string id in PackedProjects)
            {
                string library = Path.Combine(root, "src", id, id + ".csproj");
                Run pack = await RunAsync("dotnet", ["pack", library, "-c", "Release", "-o", feed, $"-p:Version={version}", "-nodeReuse:false", "-p:UseSharedCompilation=false"], root);
                Assert.True(pack.ExitCode == 0, pack.Output);
            }

            string project = Path.Combine(work.FullName, "app");
            Directory.CreateDirectory(project);
            await File.WriteAllTextAsync(Path.Combine(project, "Snippets.csproj"), ProjectFile(root, version), TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(Path.Combine(project, "NuGet.config"), NuGetConfig(root, feed), TestContext.Current.CancellationToken);
            for (int i = 0; i < snippets.Count; i++)
            {
                string path = Path.Combine(root, snippets[i].Document);
                string name = $"{i:00}_{snippets[i].Document.Replace('/', '_').Replace('.', '_')}_L{snippets[i].Line}.cs";
                await File.WriteAllTextAsync(Path.Combine(project, name), Snippets.ToSource(snippets[i], path, i), TestContext.Current.CancellationToken);
            }

            Run build = await RunAsync("dotnet", ["build", project, "-nodeReuse:false", "-p:UseSharedCompilation=false", "-clp:ErrorsOnly"], project);
            Assert.True(build.ExitCode == 0, $"A snippet does not compile (the errors name the markdown file and line):\n{build.Output}");
        }
        finally
        {
            work.Delete(recursive: true);
            foreach (string folder in cached.Where(Directory.Exists))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static string ProjectFile(string root, string version)
    {
        XDocument props = XDocument.Load(Path.Combine(root, "Directory.Packages.props"));
        string VersionOf(string id) => props.Descendants("PackageVersion").Single(e => (string?)e.Attribute("Include") == id).Attribute("Version")!.Value;
        string references = string.Concat(OtherPackages.Select(id => $"    <PackageReference Include=\"{id}\" Version=\"{VersionOf(id)}\" />\n"));
        // Outside the repository: none of its Directory.*.props apply, as in a reader's own app.
        return $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <OutputType>Library</OutputType>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="HealthChecks.TcpShaker" Version="{version}" />
                <PackageReference Include="HealthChecks.TcpShaker.Yarp" Version="{version}" />
                <PackageReference Include="HealthChecks.TcpShaker.Aspire" Version="{version}" />
            {references}  </ItemGroup>
            </Project>
            """;
    }

    private static string NuGetConfig(string root, string feed)
    {
        // The repository's sources, and the folder the package was just packed into.
        XDocument config = XDocument.Load(Path.Combine(root, "NuGet.config"));
        XElement sources = config.Root!.Element("packageSources")!;
        sources.Add(new XElement("add", new XAttribute("key", "packed"), new XAttribute("value", feed)));
        return config.ToString();
    }

    private static string PackagesFolder =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    internal static string RepositoryRoot
    {
        get
        {
            for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                if (File.Exists(Path.Combine(dir, "HealthChecks.TcpShaker.sln")))
                {
                    return dir;
                }
            }

            throw new InvalidOperationException("HealthChecks.TcpShaker.sln was not found above " + AppContext.BaseDirectory);
        }
    }

    private sealed record Run(int ExitCode, string Output);

    private static async Task<Run> RunAsync(string fileName, string[] args, string workingDirectory)
    {
        var start = new ProcessStartInfo(fileName, args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within {Limit}");
        }

        return new Run(process.ExitCode, await output + await error);
    }
}
