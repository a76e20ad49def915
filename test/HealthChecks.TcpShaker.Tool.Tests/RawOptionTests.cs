using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary><c>--raw</c>: raw SYN mode where the process may, and a plain word on stderr where it may not.</summary>
public sealed class RawOptionTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Check_with_raw_says_RawSyn_and_leaves_no_connection()
    {
        string? unavailable = RawSocketAccess.SkipReason();
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["check", "--raw", listener.EndPoint.ToString()], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("tcp-shaker check: mode RawSyn, timeout 1s", run.Out, StringComparison.Ordinal);
        Assert.Empty(run.Error);
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task Check_with_raw_without_CAP_NET_RAW_says_so_and_checks_half_open()
    {
        string? unavailable = RawSocketAccess.SkipReason() ?? (File.Exists("/usr/sbin/capsh") ? null : "needs capsh to drop CAP_NET_RAW");
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);
        using var listener = new LoopbackListener();

        // capsh drops CAP_NET_RAW from the bounding set: the tool runs without it, even as root.
        ToolRun run = await ToolRunner.RunProcessAsync(
            "/usr/sbin/capsh",
            ["--drop=cap_net_raw", "--", "-c", $"exec dotnet '{ToolRunner.AssemblyPath}' check --raw {listener.EndPoint}"],
            Limit);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("tcp-shaker check: mode HalfOpen", run.Out, StringComparison.Ordinal);
        Assert.Contains("tcp-shaker: --raw: raw SYN mode is unavailable: the process may not open raw sockets (it lacks CAP_NET_RAW); checking in HalfOpen mode.", run.Error, StringComparison.Ordinal);
        Assert.False(listener.HasPendingConnection);
    }
}
