namespace HealthChecks.TcpShaker.Testing;

/// <summary>The TCP sockets of the calling process's network namespace, by state, as <c>ss</c> lists them.</summary>
public static class SocketStates
{
    /// <summary>Sockets in a TCP state (<c>ss -Htan state STATE</c>), or -1 when ss fails.</summary>
    /// <param name="state">The state, as ss names it (<c>time-wait</c>).</param>
    public static int Count(string state)
    {
        (int exitCode, string stdout, _) = Sh.TryRun(TimeSpan.FromSeconds(30), "ss", "-Htan", "state", state);
        return exitCode != 0 ? -1 : stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }
}
