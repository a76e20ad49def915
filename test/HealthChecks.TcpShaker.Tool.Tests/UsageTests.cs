using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class UsageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("'127.0.0.1:99999' is not a valid TCP endpoint: port 99999 is out of range", "check", "127.0.0.1:99999")]
    [InlineData("'localhost' is not a valid TCP endpoint: no port", "check", "localhost")]
    [InlineData("'::1:80' is not a valid TCP endpoint: an IPv6 address must be written in brackets", "check", "::1:80")]
    [InlineData("HOST:PORT: '300.1.1.1:80' is not a valid TCP endpoint", "check", "127.0.0.1:80", "300.1.1.1:80")]
    [InlineData("--timeout: '5x' is not a duration: unknown unit 'x'", "check", "127.0.0.1:80", "--timeout", "5x")]
    [InlineData("--timeout: '5' is not a duration: '5' has no unit", "check", "127.0.0.1:80", "--timeout", "5")]
    [InlineData("--timeout: 0s is out of range: it must be more than 0 and at most 10m", "check", "127.0.0.1:80", "--timeout", "0s")]
    [InlineData("--timeout: 11m is out of range", "check", "127.0.0.1:80", "--timeout", "11m")]
    [InlineData("--interval: 'soon' is not a duration", "watch", "127.0.0.1:80", "--interval", "soon")]
    [InlineData("--count: '-1' is not a whole number", "watch", "127.0.0.1:80", "--count", "-1")]
    [InlineData("--interval: 5ms is out of range: it must be from 10ms to 1h", "watch", "127.0.0.1:80", "--interval", "5ms")]
    [InlineData("--fast-interval: 0s is out of range: it must be from 10ms to 1h", "watch", "127.0.0.1:80", "--fast-interval", "0s")]
    [InlineData("--down-interval: 2h is out of range: it must be from 10ms to 1h", "watch", "127.0.0.1:80", "--down-interval", "2h")]
    [InlineData("--rise: 0 is out of range: expected 1 to 1,000", "watch", "127.0.0.1:80", "--rise", "0")]
    [InlineData("--fall: 1001 is out of range: expected 1 to 1,000", "watch", "127.0.0.1:80", "--fall", "1001")]
    [InlineData("--jitter: 0.9 is out of range: expected 0 to 0.5 (a fraction of the interval)", "watch", "127.0.0.1:80", "--jitter", "0.9")]
    [InlineData("--jitter: '-0.1' is not a fraction", "watch", "127.0.0.1:80", "--jitter", "-0.1")]
    [InlineData("--requests: 0 is out of range: expected 1 to 10,000,000", "bench", "127.0.0.1:80", "-n", "0")]
    [InlineData("--requests: 'many' is not a whole number", "bench", "127.0.0.1:80", "-n", "many")]
    [InlineData("--concurrency: 0 is out of range", "bench", "127.0.0.1:80", "-c", "0")]
    [InlineData("--loops: 65 is out of range: expected 1 to 64", "bench", "127.0.0.1:80", "--loops", "65")]
    [InlineData("'--bogus'", "check", "127.0.0.1:80", "--bogus")]
    [InlineData("Required argument missing for command: 'check'", "check")]
    [InlineData("Required command was not provided", new string[0])]
    [InlineData("'frobnicate'", "frobnicate")]
    public async Task Bad_usage_exits_2_naming_the_argument(string expected, params string[] args)
    {
        ToolRun run = await ToolRunner.RunAsync(args, cancellationToken: Ct);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
        Assert.Contains("--help' for usage.", run.Error, StringComparison.Ordinal);
        Assert.Empty(run.Out);
    }

    [Theory]
    [InlineData("unknown option '--timout'. Did you mean '--timeout'?", "check", "127.0.0.1:80", "--timout", "1s")]
    [InlineData("unknown option '--jsno'. Did you mean '--json'?", "check", "127.0.0.1:80", "--jsno")]
    [InlineData("unknown option '--intervl'. Did you mean '--interval'?", "watch", "127.0.0.1:80", "--intervl", "1s")]
    [InlineData("unknown option '--request'. Did you mean '--requests'?", "bench", "127.0.0.1:80", "--request", "10")]
    [InlineData("unknown option '--verison'. Did you mean '--version'?", "--verison")]
    [InlineData("unknown option '--frobnicate'.", "check", "127.0.0.1:80", "--frobnicate")]
    [InlineData("unknown command 'chek'. Did you mean 'check'?", "chek", "127.0.0.1:80")]
    [InlineData("unknown command 'wacth'. Did you mean 'watch'?", "wacth", "127.0.0.1:80")]
    [InlineData("unknown command 'frobnicate'.", "frobnicate")]
    public async Task A_mistyped_option_or_command_is_named_with_the_nearest_one(string expected, params string[] args)
    {
        ToolRun run = await ToolRunner.RunAsync(args, cancellationToken: Ct);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains($"tcp-shaker: {expected}", run.Error, StringComparison.Ordinal);
        // The option and its value are not taken for targets, nor the command's targets for more unknown commands.
        Assert.DoesNotContain("not a valid TCP endpoint", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Unrecognized", run.Error, StringComparison.Ordinal);
        if (!expected.EndsWith('?'))
        {
            Assert.DoesNotContain("Did you mean", run.Error, StringComparison.Ordinal); // nothing near enough to suggest
        }

        Assert.Equal(2, run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("--help' for usage.", run.Error, StringComparison.Ordinal);
        Assert.Empty(run.Out);
    }

    [Fact]
    public async Task A_mistyped_option_is_reported_by_the_tool_process()
    {
        // The real process, as a user runs it: the same sentence on stderr and exit code 2.
        ToolRun run = await ToolRunner.RunProcessAsync("dotnet", [ToolRunner.AssemblyPath, "check", "127.0.0.1:80", "--timout", "1s"], TimeSpan.FromMinutes(1));

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Equal("tcp-shaker: unknown option '--timout'. Did you mean '--timeout'?\nRun 'tcp-shaker check --help' for usage.\n", run.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Help_names_every_mode()
    {
        ToolRun run = await ToolRunner.RunAsync(["--help"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("HalfOpen", run.Out, StringComparison.Ordinal);
        Assert.Contains("FullConnect", run.Out, StringComparison.Ordinal);
        Assert.Contains("RawSyn", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_the_commands()
    {
        ToolRun run = await ToolRunner.RunAsync(["--help"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("check", run.Out, StringComparison.Ordinal);
        Assert.Contains("bench", run.Out, StringComparison.Ordinal);
        Assert.Contains("watch", run.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("check", "--timeout <duration>", "[default: 1s]", "--all-addresses", "--full-connect", "--json", "-q, --quiet")]
    [InlineData("bench", "-n, --requests <N>", "-c, --concurrency <N>", "--loops <N>", "--timeout <duration>", "--full-connect")]
    [InlineData("watch", "--interval <duration>", "--fast-interval <duration>", "--down-interval <duration>", "--rise <N>", "--fall <N>", "--jitter <fraction>", "--count <N>", "--timeout <duration>", "--json", "--all-addresses")]
    public async Task Each_command_has_help(string command, params string[] expected)
    {
        ToolRun run = await ToolRunner.RunAsync([command, "--help"], cancellationToken: Ct);
        ToolRun shortForm = await ToolRunner.RunAsync([command, "-h"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(run.Out, shortForm.Out);
        Assert.Contains($"tcp-shaker {command} <HOST:PORT>", run.Out, StringComparison.Ordinal);
        Assert.All(expected, e => Assert.Contains(e, run.Out, StringComparison.Ordinal));
        Assert.DoesNotContain("00:00:01", run.Out, StringComparison.Ordinal);
    }
}
