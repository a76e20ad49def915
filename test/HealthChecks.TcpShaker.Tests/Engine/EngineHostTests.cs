using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Tests.Engine.Loop;

namespace HealthChecks.TcpShaker.Tests.Engine;

/// <summary>The engine host: start on first use, the verification and its fallback, the restart after a loop dies, and when it gives up.</summary>
public sealed class EngineHostTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_loop_starts_on_first_use_and_verifies_the_technique_unless_told_not_to(bool verify)
    {
        // The verification is one half-open check on the loop before any caller's: it takes the
        // first slot of the in-flight table and frees it, moving that slot's generation to 1. The
        // first caller's check then runs in the same slot, one generation on; unverified, at generation 0.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The epoll engine is Linux only.");
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = verify });
        using var silent = new SilentTarget();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        Assert.Null(shaker.Engine);
        // Held (30 s) until its token is read, then canceled: no race with its own deadline.
        ValueTask<TcpCheckResult> first = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(30), done.Token);
        CheckLoop loop = Assert.IsType<HalfOpenEngine>(await WaitForEngine(shaker)).Loops[0];
        List<ulong> tokens = await OnLoopThread.Run(loop, l => l.InFlightTokens());
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); tokens.Count == 0 && waited.Elapsed < TimeSpan.FromSeconds(5);)
        {
            await Task.Delay(5, Ct); // the caller's check reaches the loop just after the start completes
            tokens = await OnLoopThread.Run(loop, l => l.InFlightTokens());
        }

        ulong token = Assert.Single(tokens);
        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
        Assert.Equal(0u, (uint)token); // the first slot
        Assert.Equal(verify ? 1u : 0u, (uint)(token >> 32)); // after the verification's check, or none
        await done.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await first);
    }

    [Fact]
    public async Task A_broken_technique_falls_back_to_full_connect()
    {
        await using var shaker = new TcpShaker { ForceBrokenTechnique = "forced by the test" };
        using var listener = new LoopbackListener();

        await shaker.StartAsync(Ct);
        TcpCheckResult result = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpShakerMode.FullConnect, shaker.Mode);
        Assert.Equal("half-open checking is unavailable: forced by the test", shaker.ModeReason);
        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(1, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task The_mode_asked_for_has_no_reason_to_explain()
    {
        await using var forced = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        await using var plain = new TcpShaker();

        await forced.StartAsync(Ct);
        await plain.StartAsync(Ct);

        Assert.Equal(TcpShakerMode.FullConnect, forced.Mode);
        Assert.Null(forced.ModeReason);
        Assert.Equal(OperatingSystem.IsLinux() ? TcpShakerMode.HalfOpen : TcpShakerMode.FullConnect, plain.Mode);
        Assert.Equal(OperatingSystem.IsLinux(), plain.ModeReason is null);
    }

    [Fact]
    public async Task A_dead_loop_fails_its_pending_checks_with_a_clear_error_and_the_engine_restarts()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The epoll engine is Linux only.");
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        HalfOpenEngine first = Assert.IsType<HalfOpenEngine>(shaker.Engine);
        CheckLoop loop = first.Loops[0];
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener();
        ValueTask<TcpCheckResult> pending = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(30), Ct);
        await OnLoopThread.Run(loop, l => l.InFlightTokens().Count);

        loop.Post(_ => throw new InvalidOperationException("injected fault"));
        var pendingError = await Assert.ThrowsAsync<InvalidOperationException>(async () => await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Contains("checking loop failed", pendingError.Message, StringComparison.Ordinal);
        Assert.Equal("injected fault", pendingError.InnerException!.Message);

        // Once the host has seen the fault, a check waits for the restarted engine (100 ms back-off) and is answered there.
        await shaker.EngineAfterAsync(first).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        TcpCheckResult after = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(TcpCheckStatus.Open, after.Status);
        Assert.NotSame(first, shaker.Engine);
        Assert.Equal(1, shaker.Host.Restarts);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_loop_that_keeps_faulting_ends_in_a_permanent_error_that_every_check_names()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The epoll engine is Linux only.");
        await using var shaker = new TcpShaker();
        shaker.Host.MaxFaults = 3;
        shaker.Host.RestartDelay = TimeSpan.FromMilliseconds(1);
        using var listener = new LoopbackListener();

        for (int fault = 1; fault <= 3; fault++)
        {
            await shaker.StartAsync(Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
            HalfOpenEngine engine = Assert.IsType<HalfOpenEngine>(shaker.Engine);
            engine.Loops[0].Post(_ => throw new InvalidOperationException($"injected fault {fault}"));
            if (fault < 3)
            {
                await shaker.EngineAfterAsync(engine).WaitAsync(TimeSpan.FromSeconds(10), Ct); // restarted
            }
            else
            {
                await Assert.ThrowsAnyAsync<InvalidOperationException>(() => shaker.EngineAfterAsync(engine).WaitAsync(TimeSpan.FromSeconds(10), Ct));
            }
        }

        // The third fault within the window: no restart, and every check says why, at once and for good.
        for (int i = 0; i < 2; i++)
        {
            var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(
                async () => await shaker.CheckAsync(listener.EndPoint, Timeout, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
            Assert.Equal("The TcpShaker engine stopped checking: its loop faulted 3 times within 10 minutes (last: InvalidOperationException: injected fault 3).", error.Message);
        }

        Assert.Equal(2, shaker.Host.Restarts);
        Assert.Null(shaker.Engine);
    }


    /// <summary>The engine once the first check has started it (bounded wait; the start runs behind that check).</summary>
    private static async Task<ICheckEngine> WaitForEngine(TcpShaker shaker)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (shaker.Engine is null && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(5);
        }

        return shaker.Engine ?? throw new TimeoutException("the engine did not start within 10 s");
    }
}
