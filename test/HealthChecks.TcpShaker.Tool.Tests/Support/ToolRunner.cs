using System.Diagnostics;
using System.Text.Json;

namespace HealthChecks.TcpShaker.Tool.Tests.Support;

/// <summary>What one run of the tool wrote and returned.</summary>
public sealed record ToolRun(int ExitCode, string Out, string Error)
{
    public JsonElement Json => JsonDocument.Parse(Out).RootElement;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Error}";
}

/// <summary>Runs the tool in-process (fast) or as a real process.</summary>
public static class ToolRunner
{
    /// <summary>Runs <c>tcp-shaker args</c> in-process with redirected (non-terminal) output unless <paramref name="terminal"/>.</summary>
    /// <param name="width">The terminal's width in columns; <see langword="null"/> for Spectre.Console's default (80 when not a console).</param>
    public static async Task<ToolRun> RunAsync(string[] args, bool terminal = false, int? width = null, CancellationToken cancellationToken = default)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await Cli.RunAsync(args, new ToolConsole(output, error, terminal, width), handleSignals: false, cancellationToken);
        return new ToolRun(exit, output.ToString(), error.ToString());
    }

    public static Task<ToolRun> RunAsync(params string[] args) => RunAsync(args, terminal: false);

    /// <summary>The built tool next to the tests (the project reference copies it).</summary>
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, "tcp-shaker.dll");

    /// <summary>Starts a program with redirected output; the caller waits.</summary>
    public static Process Start(string fileName, IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
    }

    /// <summary>Runs a program to its end (bounded by <paramref name="limit"/>, killed after it) and returns what it wrote.</summary>
    public static async Task<ToolRun> RunProcessAsync(string fileName, IEnumerable<string> args, TimeSpan limit, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        using Process process = Start(fileName, args, environment, workingDirectory);
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within {limit}");
        }

        return new ToolRun(process.ExitCode, await output, await error);
    }

    /// <summary>The repository root (where global.json is).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                if (File.Exists(Path.Combine(dir, "global.json")) && Directory.Exists(Path.Combine(dir, "src", "HealthChecks.TcpShaker.Tool")))
                {
                    return dir;
                }
            }

            throw new InvalidOperationException("the repository root (global.json) was not found above " + AppContext.BaseDirectory);
        }
    }
}
