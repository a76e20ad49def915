namespace HealthChecks.TcpShaker.Testing;

/// <summary>iptables rules of the calling process's network namespace (root).</summary>
public static class Iptables
{
    /// <summary>Adds (<c>-A</c>) or deletes (<c>-D</c>) an INPUT rule that drops TCP to <paramref name="ports"/> (one port, or <c>FIRST:LAST</c>); throws with iptables' output when it fails.</summary>
    /// <param name="action"><c>-A</c> or <c>-D</c>.</param>
    /// <param name="ports">The destination ports.</param>
    public static void DropTcp(string action, string ports)
    {
        (int exitCode, string stdout, string stderr) = Sh.TryRun(TimeSpan.FromSeconds(30), "iptables", action, "INPUT", "-p", "tcp", "--dport", ports, "-j", "DROP");
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"iptables {action} INPUT --dport {ports} -j DROP failed: {stdout}{stderr}");
        }
    }
}
