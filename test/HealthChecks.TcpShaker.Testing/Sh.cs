using System.ComponentModel;
using System.Diagnostics;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>Runs a command with arguments (no shell), bounded in time; <see cref="Run(string, string[])"/> throws with its stderr when it fails.</summary>
public static class Sh
{
    public static string Run(string file, params string[] args) => Run(TimeSpan.FromSeconds(20), file, args);

    public static string Run(TimeSpan within, string file, params string[] args)
    {
        (int code, string stdout, string stderr) = TryRun(within, file, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' exited with {code}: {stderr.Trim()}");
        }

        return stdout;
    }

    /// <summary>Runs to the end; a program that cannot be started at all is exit code -1 with the reason as stderr.</summary>
    public static (int ExitCode, string Stdout, string Stderr) TryRun(TimeSpan within, string file, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (Win32Exception e)
        {
            return (-1, string.Empty, e.Message);
        }

        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(within))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"'{file} {string.Join(' ', args)}' did not finish within {within}.");
            }

            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    /// <summary>The full path of <paramref name="tool"/> on PATH (or in the sbin directories), or null.</summary>
    public static string? Which(string tool)
    {
        string path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty) + ":/usr/sbin:/sbin:/usr/local/sbin";
        foreach (string dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
