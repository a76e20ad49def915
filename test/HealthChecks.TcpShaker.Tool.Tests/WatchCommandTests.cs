using System.Text.RegularExpressions;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class WatchCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redirected_watch_writes_plain_lines_per_round_and_stops_after_count()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();

        ToolRun run = await ToolRunner.RunAsync(
            ["watch", listener.EndPoint.ToString(), closed.EndPoint.ToString(), "--interval", "50ms", "--count", "3"],
            cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        string[] lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("tcp-shaker watch: mode HalfOpen, interval 50ms, timeout 1s, any open address of a name is enough", lines[0]);
        Assert.Equal(1 + (3 * 3), lines.Length);
        for (int round = 1; round <= 3; round++)
        {
            int at = 1 + ((round - 1) * 3);
            Assert.Matches($@"^round {round} at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z: 1 of 2 targets open$", lines[at]);
            Assert.Matches($@"^  OPEN +{CheckCommandTests.Regex(listener.EndPoint)} +{CheckCommandTests.Regex(listener.EndPoint)} +\d+\.\d{{3}} ms$", lines[at + 1]);
            Assert.Matches($@"^  REFUSED +{CheckCommandTests.Regex(closed.EndPoint)} ", lines[at + 2]);
        }

        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task Watch_exits_0_when_the_last_round_was_all_open()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["watch", listener.EndPoint.ToString(), "--interval", "10ms", "--count", "2", "--full-connect"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("mode FullConnect", run.Out, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(run.Out, "(?m)^round "));
        Assert.Equal(2, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Watch_runs_until_cancelled_without_count()
    {
        using var listener = new LoopbackListener();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(600));

        ToolRun run = await ToolRunner.RunAsync(["watch", listener.EndPoint.ToString(), "--interval", "100ms"], cancellationToken: cts.Token);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.InRange(Regex.Count(run.Out, "(?m)^round "), 2, 7);
    }

    [Fact]
    public async Task Watch_on_a_terminal_draws_a_table()
    {
        using var listener = new LoopbackListener();
        using var silent = new SilentTarget();

        ToolRun run = await ToolRunner.RunAsync(
            ["watch", listener.EndPoint.ToString(), silent.EndPoint.ToString(), "--interval", "50ms", "--timeout", "100ms", "--count", "2"],
            terminal: true,
            cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("mode HalfOpen, round 2", run.Out, StringComparison.Ordinal);
        Assert.Contains("OPEN", run.Out, StringComparison.Ordinal);
        Assert.Contains("TIMEOUT", run.Out, StringComparison.Ordinal);
        Assert.Contains("2/2", run.Out, StringComparison.Ordinal);
        Assert.Contains("0/2", run.Out, StringComparison.Ordinal);
    }
}
