using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>Child processes a test or a benchmark runs beside itself: started with their output drained, measured, stopped.</summary>
public static class ChildProcess
{
    private static readonly ConcurrentDictionary<Process, StringBuilder> s_outputs = new();

    /// <summary>Starts a process whose stdout and stderr are read (the first 4,000 characters kept) in the background, so it never blocks on a full pipe.</summary>
    /// <param name="file">The program.</param>
    /// <param name="arguments">Its arguments (no shell).</param>
    /// <returns>The running process; <see cref="Output"/> reads what it wrote so far.</returns>
    public static Process StartDrained(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"{file} did not start");
        }

        s_outputs[process] = output;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Starts a process that says "ready" on its first line once it serves (listeners.c, the benchmark harness's
    /// <c>--listeners</c> mode), and waits for that line.
    /// </summary>
    /// <param name="command">The program and its arguments (no shell).</param>
    /// <param name="what">What it is, for the error ("the targets' listeners").</param>
    /// <returns>The running process, ready.</returns>
    /// <exception cref="InvalidOperationException">Its first line was not "ready" (the message holds it and its stderr).</exception>
    public static Process StartWhenReady(IReadOnlyList<string> command, string what)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start)!;
        string? line = process.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("ready", StringComparison.Ordinal))
        {
            Stop(process);
            string error = process.StandardError.ReadToEnd();
            process.Dispose();
            throw new InvalidOperationException($"{what} did not start: {line} {error}");
        }

        return process;
    }

    /// <summary>What a process started by <see cref="StartDrained"/> wrote so far (stdout and stderr together), or "".</summary>
    public static string Output(Process process)
    {
        if (!s_outputs.TryGetValue(process, out StringBuilder? output))
        {
            return "";
        }

        lock (output)
        {
            return output.ToString().Trim();
        }
    }

    /// <summary>Kills a process if it still runs, and waits up to 5 s for it to go.</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
            // it exited meanwhile
        }
    }

    /// <summary>User plus system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s).</summary>
    public static double CpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): utime is field 14, stime 15
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            if (output.Length < 4000)
            {
                output.AppendLine(line);
            }
        }
    }
}
