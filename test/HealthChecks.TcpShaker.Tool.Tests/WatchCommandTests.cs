using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class WatchCommandTests
{
    private const string Time = @"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z";

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redirected_watch_prints_each_change_of_health_once_and_a_summary_after_count()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        string up = CheckCommandTests.Regex(listener.EndPoint);
        string down = CheckCommandTests.Regex(closed.EndPoint);

        ToolRun run = await ToolRunner.RunAsync(
            ["watch", listener.EndPoint.ToString(), closed.EndPoint.ToString(), "--interval", "50ms", "--count", "3"],
            cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        string[] lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("tcp-shaker watch: mode HalfOpen, interval 50ms, rise 2, fall 3, timeout 1s, any open address of a name is enough", lines[0]);

        // Two changes (the first result decides each target), each once, then the summary.
        Assert.Equal(1 + 2 + 3, lines.Length);
        string[] changes = lines[1..3];
        Assert.Single(changes, l => Regex.IsMatch(l, $@"^{Time}  {up}  Unknown -> Up: 1 successful check$"));
        Assert.Single(changes, l => Regex.IsMatch(l, $@"^{Time}  {down}  Unknown -> Down: 1 refusal \({down} refused the connection\)$"));
        Assert.Matches("^TARGET +HEALTH +SINCE +CHECKS +RECENT$", lines[3]);
        Assert.Matches($@"^{up} +Up +{Time} +[34] +\+\+\+\+?$", lines[4]);
        Assert.Matches($@"^{down} +Down +{Time} +[34] +RRRR?$", lines[5]);
        Assert.False(listener.HasPendingConnection);
    }

    [Fact]
    public async Task Watch_exits_0_when_every_target_is_up_at_the_end()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["watch", listener.EndPoint.ToString(), "--interval", "10ms", "--jitter", "0.2", "--count", "2", "--full-connect"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("mode FullConnect, interval 10ms, rise 2, fall 3, jitter 0.2, timeout 1s", run.Out, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(run.Out, "Unknown -> Up"));
        Assert.InRange(listener.DrainAcceptQueue(), 2, 6); // 2 counted, and the rounds that were in flight as the tool stopped (10 ms apart: a few under load)
    }

    [Fact]
    public async Task Watch_runs_until_cancelled_without_count()
    {
        using var listener = new LoopbackListener();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(600));

        ToolRun run = await ToolRunner.RunAsync(["watch", listener.EndPoint.ToString(), "--interval", "100ms"], cancellationToken: cts.Token);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Single(Regex.Matches(run.Out, "Unknown -> Up"));
        Match summary = Regex.Match(run.Out, @"(?m)^\S+ +Up +\S+ +(\d+) +(\+*)$");
        Assert.True(summary.Success, run.Out);
        Assert.InRange(int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 2, 7);
    }

    [Fact]
    public async Task Fast_interval_is_used_until_the_verdict_and_down_interval_while_down()
    {
        using var closed = new ClosedPort();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        var clock = Stopwatch.StartNew();

        // With an interval of an hour, only the fast interval (no verdict yet: the first check) and the down
        // interval (down from the first refusal on) can bring the closed port to 4 checks within seconds.
        ToolRun down = await ToolRunner.RunAsync(
            ["watch", closed.EndPoint.ToString(), "--interval", "1h", "--fast-interval", "20ms", "--down-interval", "30ms", "--fall", "2", "--count", "4"], cancellationToken: cts.Token);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Contains("interval 1h, fast-interval 20ms, down-interval 30ms, rise 2, fall 2", down.Out, StringComparison.Ordinal);
        Assert.True(down.ExitCode == 1, down.ToString());
        Assert.Contains("Unknown -> Down: 1 refusal", down.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m) Down +\S+ +4 +RRRR$", down.Out);
    }

    [Fact]
    public async Task Watch_on_a_terminal_draws_health_since_and_a_strip_of_recent_results()
    {
        using var listener = new LoopbackListener();
        using var silent = new SilentTarget();

        ToolRun run = await ToolRunner.RunAsync(
            ["watch", listener.EndPoint.ToString(), silent.EndPoint.ToString(), "--interval", "50ms", "--timeout", "100ms", "--fall", "2", "--count", "2"],
            terminal: true,
            width: 140,
            cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("tcp-shaker watch: mode HalfOpen, interval 50ms, rise 2, fall 2", run.Out, StringComparison.Ordinal);
        Assert.Contains("HEALTH", run.Out, StringComparison.Ordinal);
        Assert.Contains("RECENT", run.Out, StringComparison.Ordinal);
        Assert.Contains("TIMEOUT", run.Out, StringComparison.Ordinal);

        // The last frame: the rows and the changes listed under the table.
        string plain = Regex.Replace(run.Out, @"\x1b\[[0-9;?]*[A-Za-z]", string.Empty); // colours and cursor moves
        string last = plain[plain.LastIndexOf("tcp-shaker watch:", StringComparison.Ordinal)..];
        Assert.Matches($@"{CheckCommandTests.Regex(listener.EndPoint)} +│ Up +│ \d\d:\d\d:\d\dZ \(\d+s\) +│ \d+ +│ OPEN +│ [\d.]+ ms +│ \++ ", last);
        Assert.Matches($@"{CheckCommandTests.Regex(silent.EndPoint)} +│ Down +│ .* │ TTT* ", last);
        Assert.Matches($@"{Time}  {CheckCommandTests.Regex(listener.EndPoint)}  Unknown -> Up: 1 successful check", last);
        Assert.Matches($@"{Time}  {CheckCommandTests.Regex(silent.EndPoint)}  Unknown -> Down: 1 timeout", last);
    }

    [Fact]
    public async Task Json_lines_report_transitions_as_they_happen_in_a_real_process()
    {
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        first.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        first.Listen(16);
        var target = (IPEndPoint)first.LocalEndPoint!;

        using Process process = ToolRunner.Start("dotnet", [ToolRunner.AssemblyPath, "watch", target.ToString(), "--json", "--interval", "50ms", "--rise", "2", "--fall", "2"]);
        Task<string> error = process.StandardError.ReadToEndAsync(Ct);
        try
        {
            JsonElement toUp = await NextChangeAsync(process);
            Assert.Equal(("Unknown", "Up", "1 successful check"), Change(toUp));
            Assert.Equal(target.ToString(), toUp.GetProperty("target").GetString());
            Assert.Equal("HalfOpen", toUp.GetProperty("mode").GetString());
            Assert.Equal("Open", toUp.GetProperty("status").GetString());
            Assert.Equal(target.ToString(), toUp.GetProperty("address").GetString());

            // Closed: refused from now on, down after the second refusal.
            var closedAt = DateTimeOffset.UtcNow;
            first.Dispose();
            JsonElement toDown = await NextChangeAsync(process);
            Assert.Equal(("Up", "Down", "2 refusals in a row"), Change(toDown));
            Assert.Equal("Refused", toDown.GetProperty("status").GetString());
            Assert.Equal($"{target} refused the connection", toDown.GetProperty("description").GetString());
            Assert.InRange(toDown.GetProperty("at").GetDateTimeOffset(), closedAt, closedAt + TimeSpan.FromSeconds(10));

            // Listening again on the same port: up again after two successes.
            using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            second.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            second.Bind(target);
            second.Listen(16);
            JsonElement upAgain = await NextChangeAsync(process);
            Assert.Equal(("Down", "Up", "2 successful checks in a row"), Change(upAgain));
            Assert.True(upAgain.GetProperty("at").GetDateTimeOffset() > toDown.GetProperty("at").GetDateTimeOffset());
            Assert.False(second.Poll(0, SelectMode.SelectRead), "a half-open watch must not leave a connection to accept");

            using (Process term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync(Ct);
            }

            await process.WaitForExitAsync(Ct).WaitAsync(Limit, Ct);
            string rest = await process.StandardOutput.ReadToEndAsync(Ct);
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{rest}\n{await error}");
            Assert.Empty(rest.Trim());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static (string?, string?, string?) Change(JsonElement change) =>
        (change.GetProperty("previous").GetString(), change.GetProperty("current").GetString(), change.GetProperty("reason").GetString());

    private static async Task<JsonElement> NextChangeAsync(Process process)
    {
        string line = await process.StandardOutput.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Ct)
            ?? throw new InvalidOperationException("the tool closed its output");
        return JsonDocument.Parse(line).RootElement.Clone();
    }
}
