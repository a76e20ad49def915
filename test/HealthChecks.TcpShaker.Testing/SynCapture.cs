using System.Diagnostics;
using System.Globalization;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>SYNs seen on the loopback of the calling process's network namespace, captured with tcpdump (root).</summary>
public static class SynCapture
{
    /// <summary>
    /// Captures for <paramref name="seconds"/> (tcpdump under <c>timeout -s INT</c>), and returns the kernel timestamps
    /// of the SYNs (seconds), the packets tcpdump says the kernel dropped (null when it did not say), and its stderr.
    /// </summary>
    /// <param name="seconds">How long to capture.</param>
    public static (List<double> Stamps, long? Dropped, string Errors) Capture(int seconds)
    {
        var start = new ProcessStartInfo("timeout") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { "-s", "INT", seconds.ToString(CultureInfo.InvariantCulture), "tcpdump", "-i", "lo", "-nn", "-tt", "-q", "-l", "-B", "32768", "tcp[tcpflags] == tcp-syn" })
        {
            start.ArgumentList.Add(argument);
        }

        using Process tcpdump = Process.Start(start)!;
        Task<string> errors = tcpdump.StandardError.ReadToEndAsync();
        var stamps = new List<double>(seconds * 12_000);
        while (tcpdump.StandardOutput.ReadLine() is { } line)
        {
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0 && double.TryParse(line.AsSpan(0, space), NumberStyles.Float, CultureInfo.InvariantCulture, out double t))
            {
                stamps.Add(t);
            }
        }

        tcpdump.WaitForExit(10_000);
        string stderr = errors.Result;
        long? dropped = null;
        if (stderr.Split('\n').FirstOrDefault(l => l.Contains("dropped by kernel", StringComparison.Ordinal)) is { } dropLine
            && long.TryParse(dropLine.Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long count))
        {
            dropped = count;
        }

        return (stamps, dropped, stderr);
    }
}
