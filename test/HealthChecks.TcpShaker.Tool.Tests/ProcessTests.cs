using System.Diagnostics;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>The built tool as a real process: exit codes, streams, signals.</summary>
public sealed class ProcessTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Quiet_check_of_an_open_port_exits_0_silently_and_a_refused_one_exits_1()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();

        ToolRun open = await ToolRunner.RunProcessAsync("dotnet", [ToolRunner.AssemblyPath, "check", "-q", listener.EndPoint.ToString()], Limit);
        ToolRun refused = await ToolRunner.RunProcessAsync("dotnet", [ToolRunner.AssemblyPath, "check", "-q", closed.EndPoint.ToString()], Limit);
        ToolRun usage = await ToolRunner.RunProcessAsync("dotnet", [ToolRunner.AssemblyPath, "check", "nonsense"], Limit);

        Assert.True(open.ExitCode == 0, open.ToString());
        Assert.Empty(open.Out);
        Assert.Empty(open.Error);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("REFUSED", refused.Out, StringComparison.Ordinal);
        Assert.True(usage.ExitCode == 2, usage.ToString());
        Assert.Contains("'nonsense' is not a valid TCP endpoint", usage.Error, StringComparison.Ordinal);
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task Sigterm_stops_a_bench_with_a_partial_summary()
    {
        using var silent = new SilentTarget();
        using Process process = ToolRunner.Start("dotnet", [ToolRunner.AssemblyPath, "bench", silent.EndPoint.ToString(), "-n", "1000000", "-c", "10", "--timeout", "1m"]);
        Task<string> error = process.StandardError.ReadToEndAsync(Ct);
        Task<string>? output = null;
        try
        {
            // Wait for the header: the checks are then in flight (and never answered).
            string header = await process.StandardOutput.ReadLineAsync(Ct).AsTask().WaitAsync(Limit, Ct) ?? string.Empty;
            Assert.StartsWith("tcp-shaker bench:", header, StringComparison.Ordinal);
            output = process.StandardOutput.ReadToEndAsync(Ct);
            using (Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(Ct);
            }

            await process.WaitForExitAsync(Ct).WaitAsync(Limit, Ct);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        string rest = output is null ? string.Empty : await output;
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}\n{rest}\n{await error}");
        Assert.Contains("checks          0 of 1,000,000", rest, StringComparison.Ordinal);
        Assert.Contains("(interrupted: partial summary)", rest, StringComparison.Ordinal);
    }
}
