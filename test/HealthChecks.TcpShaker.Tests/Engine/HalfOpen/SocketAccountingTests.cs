
namespace HealthChecks.TcpShaker.Tests.Engine.HalfOpen;

/// <summary>
/// Tests that count this process's sockets in /proc/self/fd: they run alone, since any other test
/// opening or closing sockets at the same time would move the count.
/// </summary>
[Collection(nameof(SocketAccountingTests))]
[CollectionDefinition(nameof(SocketAccountingTests), DisableParallelization = true)]
public sealed class SocketAccountingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Cancelling_a_check_in_flight_throws_promptly_and_closes_its_socket()
    {
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        int socketsBefore = ProcessFds.CountSockets();
        using var cts = new CancellationTokenSource();

        ValueTask<TcpCheckResult> check = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(30), cts.Token);
        await Task.Delay(100, Ct);
        int socketsDuring = ProcessFds.CountSockets();
        var started = System.Diagnostics.Stopwatch.StartNew();
        await cts.CancelAsync();
        var exception = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await check);

        // At once, not at the 30 s deadline: 500 ms is far from both a loop round trip and 30 s.
        Assert.True(started.Elapsed < TimeSpan.FromMilliseconds(500), $"took {started.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(cts.Token, exception.CancellationToken);
        Assert.Equal(socketsBefore + 1, socketsDuring);
        Assert.Equal(socketsBefore, await ProcessFds.WaitForSocketsAtMost(socketsBefore, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Dispose_with_checks_in_flight_completes_every_caller_and_leaves_no_socket()
    {
        using var silent = new SilentTarget();
        int socketsBefore = ProcessFds.CountSockets();
        var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        Task<TcpCheckResult>[] checks = Enumerable.Range(0, 500)
            .Select(_ => shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(60), Ct).AsTask())
            .ToArray();
        await WaitUntil(() => ProcessFds.CountSockets() >= socketsBefore + 500, TimeSpan.FromSeconds(10));

        await shaker.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Task all = Task.WhenAll(checks);
        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5), Ct));

        Assert.All(checks, c => Assert.True(c.IsCanceled, $"expected canceled, got {c.Status}"));
        Assert.Equal(socketsBefore, await ProcessFds.WaitForSocketsAtMost(socketsBefore, TimeSpan.FromSeconds(2)));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await shaker.CheckAsync(silent.EndPoint, Timeout, Ct));
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (!condition() && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), "condition not reached in time");
    }
}
