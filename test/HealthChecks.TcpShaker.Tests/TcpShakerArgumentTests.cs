using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tests;

/// <summary>What TcpShaker refuses before any check: bad endpoints, timeouts out of range, a token already canceled.</summary>
public sealed class TcpShakerArgumentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("localhost:0")]
    [InlineData("localhost:70000")]
    [InlineData("::1:80")]
    [InlineData("local host:80")]
    public async Task Bad_endpoint_strings_throw_before_any_check(string text)
    {
        await using var shaker = new TcpShaker();

        var exception = await Assert.ThrowsAsync<ArgumentException>(async () => await shaker.CheckAsync(text, Timeout, Ct));

        Assert.Contains($"'{text}'", exception.Message, StringComparison.Ordinal);
        Assert.Null(shaker.Engine); // nothing was started for it
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(24 * 60 * 60 * 1000)]
    public async Task Timeouts_outside_the_allowed_range_are_rejected(int milliseconds)
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        var exception = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            async () => await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromMilliseconds(milliseconds), Ct));

        Assert.Contains("must be more than zero and at most", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task An_already_cancelled_token_throws_without_checking()
    {
        // Full connect, so a check that was made anyway would leave a connection in the accept
        // queue. A loopback connect lands there within microseconds; 250 ms without one, even on a
        // busy machine, means none was made.
        await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        using var listener = new LoopbackListener();
        var canceled = new CancellationToken(canceled: true);
        var settle = TimeSpan.FromMilliseconds(250);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await shaker.CheckAsync(listener.EndPoint, Timeout, canceled));
        Assert.False(listener.Socket.Poll(settle, SelectMode.SelectRead), "a canceled check reached the server");
        Assert.Null(shaker.Engine); // nothing was even started for it

        await shaker.StartAsync(Ct);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await shaker.CheckAsync(listener.EndPoint, Timeout, canceled));
        Assert.False(listener.Socket.Poll(settle, SelectMode.SelectRead), "a canceled check reached the server");

        // The observation works: the same shaker with a live token does reach the queue.
        Assert.Equal(TcpCheckStatus.Open, (await shaker.CheckAsync(listener.EndPoint, Timeout, Ct)).Status);
        Assert.Equal(1, listener.DrainAcceptQueue());
    }
}
