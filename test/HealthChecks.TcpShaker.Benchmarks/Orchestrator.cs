using System.Diagnostics;
using System.Reflection;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// The parent side: runs each case as a child of this program, inside a fresh network namespace
/// when it can (else on the host's loopback), reads the namespace's TCP counters before and after,
/// and deletes the namespace, also when the child fails or is killed.
/// </summary>
internal sealed class Orchestrator(bool useNamespaces, bool iptables)
{
    /// <summary>The names of this harness's namespaces start so; a killed run's leftovers are deleted by it.</summary>
    internal const string NamespacePrefix = "tcpshaker-bench-";

    private static volatile NetNamespace? s_current;
    private static volatile NetNamespace? s_targets;

    /// <summary>Deletes the namespace of the running case when the harness is interrupted.</summary>
    internal static void InstallCleanup()
    {
        Console.CancelKeyPress += (_, _) => DisposeCurrent();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeCurrent();
    }

    private static void DisposeCurrent()
    {
        s_current?.Dispose();
        s_targets?.Dispose();
    }

    internal CaseResult Run(CaseSpec spec)
    {
        if (!useNamespaces)
        {
            CaseResult plain = RunChild(spec, null);
            plain.Notes.Add("host loopback, no namespace: kernel counters not isolated, not reported");
            return plain;
        }

        using NetNamespace ns = NetNamespace.Create(prefix: NamespacePrefix);
        s_current = ns;
        // A prober row's targets live in a namespace of their own, linked by a veth: their counters and sockets are theirs alone.
        using NetNamespace? targets = spec.Kind == CaseKind.ProberLoad ? NetNamespace.Create(prefix: NamespacePrefix) : null;
        s_targets = targets;
        try
        {
            if (targets is not null)
            {
                (_, string targetAddress) = NamespaceLink.Connect(ns, targets);
                spec = spec with { TargetsNamespace = targets.Name, TargetAddress = targetAddress };
            }

            if (spec.Kind == CaseKind.ShakerTimeout && iptables)
            {
                (int exit, _, string error) = ns.TryExec(TimeSpan.FromSeconds(30), "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP");
                if (exit == 0)
                {
                    spec = spec with { IptablesSilent = true };
                }
                else
                {
                    Console.Error.WriteLine($"iptables failed ({error.Trim()}); using the backlog-0 silent target");
                }
            }

            Dictionary<string, long> before = ns.ReadCounters();
            CaseResult result = RunChild(spec, ns);
            result.Counters = ReportedCounters.Delta(before, ns.ReadCounters());
            return result;
        }
        finally
        {
            s_current = null;
            s_targets = null;
        }
    }

    private static CaseResult RunChild(CaseSpec spec, NetNamespace? ns)
    {
        List<string> command = ChildCommand();
        command.Add("--case");
        command.Add(spec.ToArgument());
        if (ns is not null)
        {
            command.InsertRange(0, ["ip", "netns", "exec", ns.Name]);
        }

        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in spec.Environment ?? [])
        {
            start.Environment[name] = value;
        }

        using Process child = Process.Start(start)!;
        Task<string> stdout = child.StandardOutput.ReadToEndAsync();
        Task<string> stderr = child.StandardError.ReadToEndAsync();
        int limitMs = spec.BudgetMs + 90_000;
        if (!child.WaitForExit(limitMs))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit(10_000);
            return new CaseResult { Spec = spec, Error = $"killed after {limitMs / 1000} s" };
        }

        string output = stdout.Result;
        string line = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal)) ?? "";
        CaseResult? result = line.Length > 0 ? CaseResult.FromJsonLine(line["RESULT ".Length..]) : null;
        return result ?? new CaseResult
        {
            Spec = spec,
            Error = $"the child exited with {child.ExitCode} without a result: {Tail(output)} {Tail(stderr.Result)}",
        };
    }

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..] : text;

    /// <summary>How to start this program again: the app host, or dotnet with the dll.</summary>
    internal static List<string> ChildCommand()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        string dll = Assembly.GetExecutingAssembly().Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, dll] : [host];
    }
}
