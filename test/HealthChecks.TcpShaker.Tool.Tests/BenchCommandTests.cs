using System.Text.RegularExpressions;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class BenchCommandTests
{
    private static readonly string[] Percentiles = ["p50", "p90", "p99", "max"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Bench_against_a_listener_summarizes_every_check_as_open_and_leaves_no_connection()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["bench", listener.EndPoint.ToString(), "-n", "2000", "-c", "100"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith($"tcp-shaker bench: {listener.EndPoint}, mode HalfOpen, 2,000 checks, concurrency 100, timeout 1s, 1 loop", run.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^checks +2,000 of 2,000 in \d+\.\d{3} s$", run.Out);
        Assert.Matches(@"(?m)^rate +[\d,]+ checks/s$", run.Out);
        Assert.Matches(@"(?m)^open +2,000 +100\.00%$", run.Out);
        Assert.Matches(@"(?m)^refused +0 +0\.00%$", run.Out);
        Assert.Matches(@"(?m)^timeout +0 +0\.00%$", run.Out);
        Assert.Matches(@"(?m)^mode +HalfOpen$", run.Out);
        Match latency = Regex.Match(run.Out, @"(?m)^latency +p50 (?<p50>[\d.]+) ms  p90 (?<p90>[\d.]+) ms  p99 (?<p99>[\d.]+) ms  max (?<max>[\d.]+) ms$");
        Assert.True(latency.Success, run.Out);
        double[] percentiles = [.. Percentiles.Select(g => double.Parse(latency.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(percentiles.Order(), percentiles);
        Assert.True(percentiles[0] > 0, run.Out);
        Assert.False(listener.HasPendingConnection, "2,000 half-open checks must leave the accept queue empty");
    }

    [Fact]
    public async Task Bench_with_two_loops_and_full_connect_shows_the_mode()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["bench", listener.EndPoint.ToString(), "-n", "300", "-c", "10", "--loops", "2", "--full-connect"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("mode FullConnect, 300 checks, concurrency 10, timeout 1s, 2 loops", run.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^open +300 +100\.00%$", run.Out);
        Assert.Matches(@"(?m)^mode +FullConnect$", run.Out);
        Assert.Equal(300, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Bench_against_a_closed_port_counts_refusals_and_exits_1()
    {
        using var closed = new ClosedPort();

        ToolRun run = await ToolRunner.RunAsync(["bench", closed.EndPoint.ToString(), "-n", "500", "-c", "1000"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("500 checks, concurrency 500", run.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^refused +500 +100\.00%$", run.Out);
        Assert.Matches(@"(?m)^open +0 +0\.00%$", run.Out);
    }

    [Fact]
    public async Task Cancelling_a_bench_gives_a_partial_summary_and_exit_130()
    {
        using var silent = new SilentTarget();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(1500));

        ToolRun run = await ToolRunner.RunAsync(["bench", silent.EndPoint.ToString(), "-n", "100000", "-c", "5", "--timeout", "200ms"], cancellationToken: cts.Token);

        Assert.True(run.ExitCode == 130, run.ToString());
        Match checks = Regex.Match(run.Out, @"(?m)^checks +(?<done>[\d,]+) of 100,000 in [\d.]+ s \(interrupted: partial summary\)$");
        Assert.True(checks.Success, run.Out);
        int done = int.Parse(checks.Groups["done"].Value, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(done, 5, 99_999);
        Assert.Matches($@"(?m)^timeout +{checks.Groups["done"].Value} +100\.00%$", run.Out);
        Assert.Contains("progress: ", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_on_a_terminal_draws_progress_and_still_summarizes()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["bench", listener.EndPoint.ToString(), "-n", "1000", "-c", "50"], terminal: true, cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.DoesNotContain("progress: ", run.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^open +1,000 +100\.00%$", run.Out);
    }
}
