using System.Diagnostics;
using System.Globalization;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// The scale row's targets: listeners on the wildcard address (listeners.c binds 127.0.0.1 only), so each serves
/// its port on every loopback address, in a process of their own (this harness with <c>--listeners 0.0.0.0</c>): 100,000
/// targets on 10,000 addresses are 10 listening sockets.
/// </summary>
internal static class WildcardListeners
{
    /// <summary>Starts the listeners' process (the harness's <c>--listeners 0.0.0.0</c> mode) and waits until they listen.</summary>
    internal static Process Start(int basePort, int count)
    {
        List<string> command = [.. Orchestrator.ChildCommand(), "--listeners", "0.0.0.0", basePort.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture), "1024"];
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start)!;
        string? line = process.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("ready", StringComparison.Ordinal))
        {
            string error = process.StandardError.ReadToEnd();
            process.Kill();
            throw new InvalidOperationException($"the wildcard listeners did not start: {line} {error}");
        }

        return process;
    }
}
