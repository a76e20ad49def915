using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Tests.Engine.Loop;

/// <summary>The checking loop: stale events against reused slots, and continuations kept off its thread.</summary>
public sealed class CheckLoopTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_stale_event_for_a_reused_slot_cannot_report_a_pending_check_open()
    {
        // The Go anchor keys checks by fd: a late event for a closed fd, now reused by a new socket
        // still waiting for its SYN-ACK, reads SO_ERROR = 0 there and reports a false success.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The epoll engine is Linux only.");
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        CheckLoop loop = Assert.IsType<HalfOpenEngine>(shaker.Engine).Loops[0];
        using var silent = new SilentTarget();

        // The first check must still be in flight when its token is read (a loop round trip, well
        // under its 500 ms); the second must still be pending when the stale event is injected,
        // which the injection itself checks, so a slow machine cannot make this pass vacuously.
        ValueTask<TcpCheckResult> first = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(500), Ct);
        ulong staleToken = await OnLoopThread.Run(loop, l => l.InFlightTokens().Single());
        Assert.Equal(TcpCheckStatus.Timeout, (await first).Status);

        ValueTask<TcpCheckResult> second = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        ulong liveToken = await OnLoopThread.Run(loop, l => l.InFlightTokens().Single());
        bool pendingAtInjection = await OnLoopThread.Run(loop, l =>
        {
            bool pending = l.InFlightTokens().Contains(liveToken);
            l.InjectEvent(staleToken);
            return pending;
        });
        TcpCheckResult result = await second;

        Assert.True(pendingAtInjection, "the second check was no longer in flight when the stale event came");

        Assert.Equal((uint)staleToken, (uint)liveToken); // same slot...
        Assert.NotEqual(staleToken >> 32, liveToken >> 32); // ...a new generation
        Assert.Equal(TcpCheckStatus.Timeout, result.Status);
    }

    [Fact]
    public async Task Continuations_never_run_on_the_loop_thread()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        // Off xunit's synchronization context, so the continuation runs wherever the engine sends it.
        string?[] threads = await Task.Run(async () =>
        {
            var names = new string?[20];
            for (int i = 0; i < names.Length; i++)
            {
                await shaker.CheckAsync(listener.EndPoint, Timeout, Ct).ConfigureAwait(false);
                names[i] = Thread.CurrentThread.Name;
            }

            return names;
        }, Ct);

        Assert.All(threads, name => Assert.DoesNotContain("TcpShaker half-open loop", name ?? string.Empty, StringComparison.Ordinal));
    }
}
