using System.Net;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Tests.Engine.Loop;

/// <summary>
/// A caller who misuses a pooled <see cref="ValueTask{TResult}"/> gets <see cref="InvalidOperationException"/>;
/// the pool, the loop and every other caller carry on with their own results.
/// </summary>
public sealed class ValueTaskMisuseTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Reading_pending_checks_and_awaiting_twice_throw_to_the_misuser_and_corrupt_nothing()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The pooled operations belong to the Linux engine.");
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        using var open = new LoopbackListener();
        using var closed = new ClosedPort();

        // 50 pending checks read synchronously: each read throws, none gives its operation back early.
        var pending = new List<ValueTask<TcpCheckResult>>();
        for (int i = 0; i < 50; i++)
        {
            ValueTask<TcpCheckResult> check = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(400), Ct);
            pending.Add(check);
            Assert.Throws<InvalidOperationException>(() => check.GetAwaiter().GetResult());
        }

        // A finished check awaited twice: the second await throws.
        ValueTask<TcpCheckResult> once = shaker.CheckAsync(open.EndPoint, TimeSpan.FromSeconds(2), Ct);
        Assert.Equal(TcpCheckStatus.Open, (await once).Status);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await once);

        // Meanwhile and afterwards, every other caller gets the result of its own check.
        await AssertEveryoneGetsTheirOwnResultAsync(shaker, open.EndPoint, closed.EndPoint);
        await Task.Delay(TimeSpan.FromMilliseconds(600), Ct); // the 50 time out on the loop, unread
        await AssertEveryoneGetsTheirOwnResultAsync(shaker, open.EndPoint, closed.EndPoint);

        // The misused checks did complete (with their own timeouts) and can still be awaited once.
        foreach (ValueTask<TcpCheckResult> check in pending)
        {
            TcpCheckResult result = await check;
            Assert.Equal(TcpCheckStatus.Timeout, result.Status);
            Assert.Equal(silent.EndPoint, result.RemoteEndPoint);
        }

        var engine = Assert.IsType<HalfOpenEngine>(shaker.Engine);
        Assert.All(engine.Loops, loop => Assert.Null(loop.Fault));
        Assert.False(engine.Loops[0].Stopped.IsCompleted);
    }

    [Fact]
    public async Task Misuse_while_checks_are_in_flight_at_shutdown_does_not_take_the_host_down()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The pooled operations belong to the Linux engine.");
        var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        var pending = new List<ValueTask<TcpCheckResult>>();
        for (int i = 0; i < 50; i++)
        {
            ValueTask<TcpCheckResult> check = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(30), Ct);
            pending.Add(check);
            Assert.Throws<InvalidOperationException>(() => check.GetAwaiter().GetResult());
        }

        var engine = Assert.IsType<HalfOpenEngine>(shaker.Engine);
        await shaker.DisposeAsync();

        // Each check was completed once, by the shutdown, and each caller sees the cancellation.
        Assert.All(engine.Loops, loop => Assert.Null(loop.Fault));
        foreach (ValueTask<TcpCheckResult> check in pending)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await check);
        }
    }

    private static async Task AssertEveryoneGetsTheirOwnResultAsync(TcpShaker shaker, IPEndPoint open, IPEndPoint closed)
    {
        var checks = new List<(IPEndPoint Target, Task<TcpCheckResult> Check)>();
        for (int i = 0; i < 200; i++)
        {
            IPEndPoint target = i % 2 == 0 ? open : closed;
            checks.Add((target, shaker.CheckAsync(target, TimeSpan.FromSeconds(2), Ct).AsTask()));
        }

        foreach ((IPEndPoint target, Task<TcpCheckResult> check) in checks)
        {
            TcpCheckResult result = await check;
            Assert.Equal(target, result.RemoteEndPoint);
            Assert.Equal(target == open ? TcpCheckStatus.Open : TcpCheckStatus.Refused, result.Status);
        }
    }
}
