using System.Diagnostics;
using System.Globalization;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// A fresh network namespace for one case (<c>ip netns add</c>, loopback up), deleted on dispose.
/// Its TCP counters (/proc/net/snmp, /proc/net/netstat read from inside) belong to that case alone.
/// </summary>
internal sealed class NetNamespace : IDisposable
{
    internal const string Prefix = "tcpshaker-bench-";
    private static int s_counter;
    private bool _deleted;

    private NetNamespace(string name) => Name = name;

    internal string Name { get; }

    /// <summary>Whether namespaces can be used here: root and the ip tool.</summary>
    internal static bool Available(out string why)
    {
        if (!OperatingSystem.IsLinux())
        {
            why = "not Linux";
            return false;
        }

        if (Environment.UserName != "root" && !IsRoot())
        {
            why = "not root";
            return false;
        }

        if (Run("ip", ["netns", "list"], out _) != 0)
        {
            why = "the ip tool (iproute2) is missing or cannot list namespaces";
            return false;
        }

        why = "";
        return true;
    }

    private static bool IsRoot()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0";
            }
        }

        return false;
    }

    internal static NetNamespace Create()
    {
        string name = $"{Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        if (Run("ip", ["netns", "add", name], out string error) != 0)
        {
            throw new InvalidOperationException($"ip netns add {name} failed: {error}");
        }

        var ns = new NetNamespace(name);
        if (Run("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"], out error) != 0)
        {
            ns.Dispose();
            throw new InvalidOperationException($"bringing lo up in {name} failed: {error}");
        }

        return ns;
    }

    /// <summary>Deletes namespaces an earlier, killed run of this harness left behind (only ours, by prefix).</summary>
    internal static void DeleteLeftovers()
    {
        if (Run("ip", ["netns", "list"], out string list) != 0)
        {
            return;
        }

        foreach (string line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string name = line.Split(' ')[0];
            if (name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                Run("ip", ["netns", "del", name], out _);
            }
        }
    }

    /// <summary>Runs a command inside the namespace; returns its exit code.</summary>
    internal int Exec(string[] command, out string output) => Run("ip", ["netns", "exec", Name, .. command], out output);

    /// <summary>The namespace's TCP counters, e.g. TcpPassiveOpens, TcpExtDelayedACKs.</summary>
    internal Dictionary<string, long> ReadCounters()
    {
        if (Exec(["cat", "/proc/net/snmp", "/proc/net/netstat"], out string text) != 0)
        {
            throw new InvalidOperationException($"reading counters in {Name} failed: {text}");
        }

        return KernelCounters.Parse(text);
    }

    public void Dispose()
    {
        if (!_deleted)
        {
            _deleted = true;
            Run("ip", ["netns", "del", Name], out _);
        }
    }

    internal static int Run(string file, string[] arguments, out string output)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using Process process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(entireProcessTree: true);
                output = "timed out";
                return -1;
            }

            output = stdout.Result + stderr.Result;
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            output = e.Message;
            return -1;
        }
    }
}

/// <summary>Parses /proc/net/snmp and /proc/net/netstat: pairs of "Prefix: names" and "Prefix: values" lines.</summary>
internal static class KernelCounters
{
    internal static readonly string[] Reported =
        ["TcpExtDelayedACKs", "TcpPassiveOpens", "TcpExtListenOverflows", "TcpRetransSegs", "TcpActiveOpens", "TcpExtTCPTimeouts", "TcpExtListenDrops", "TcpOutRsts", "TcpExtEmbryonicRsts"];

    internal static Dictionary<string, long> Parse(string text)
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            string[] names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names.Length < 2 || names[0] != values[0] || names.Length != values.Length
                || !long.TryParse(values[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            string prefix = names[0].TrimEnd(':');
            for (int k = 1; k < names.Length; k++)
            {
                if (long.TryParse(values[k], NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
                {
                    counters[prefix + names[k]] = value;
                }
            }

            i++;
        }

        return counters;
    }

    internal static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after)
    {
        var delta = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string name in Reported)
        {
            delta[name] = after.GetValueOrDefault(name) - before.GetValueOrDefault(name);
        }

        return delta;
    }
}
