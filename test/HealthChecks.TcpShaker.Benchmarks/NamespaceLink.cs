using System.Globalization;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// A veth pair between two namespaces of the harness's own, neither of them the root namespace: a /30 from
/// 198.18.0.0/15 (RFC 2544, benchmarking) with one end in each. Neither namespace has any other route, so
/// nothing sent to these addresses can leave the pair. The pair goes when either namespace is deleted.
/// </summary>
internal static class NamespaceLink
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static int s_counter;

    /// <summary>Links <paramref name="first"/> and <paramref name="second"/>; the addresses of their ends.</summary>
    internal static (string First, string Second) Connect(NetNamespace first, NetNamespace second)
    {
        int id = Interlocked.Increment(ref s_counter);
        string tag = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId % 100_000:x}{id:x}");
        string firstEnd = "pba" + tag;
        string secondEnd = "pbb" + tag;
        // Each pair in its own pair of namespaces, so every pair may use the same /30.
        const string firstAddress = "198.18.255.1";
        const string secondAddress = "198.18.255.2";
        Sh.Run(Limit, "ip", "link", "add", firstEnd, "netns", first.Name, "type", "veth", "peer", "name", secondEnd, "netns", second.Name);
        Sh.Run(Limit, "ip", "-n", first.Name, "addr", "add", firstAddress + "/30", "dev", firstEnd);
        Sh.Run(Limit, "ip", "-n", second.Name, "addr", "add", secondAddress + "/30", "dev", secondEnd);
        Sh.Run(Limit, "ip", "-n", first.Name, "link", "set", firstEnd, "up");
        Sh.Run(Limit, "ip", "-n", second.Name, "link", "set", secondEnd, "up");
        string route = Sh.Run(Limit, "ip", "-n", first.Name, "route", "get", secondAddress);
        if (!route.Contains("dev " + firstEnd, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{secondAddress} is not routed through {firstEnd} in {first.Name}: {route}");
        }

        return (firstAddress, secondAddress);
    }
}
