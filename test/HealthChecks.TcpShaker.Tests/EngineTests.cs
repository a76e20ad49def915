using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Tests;

/// <summary>The half-open engine against real loopback sockets.</summary>
public sealed class EngineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_open_port_is_open_and_the_server_never_sees_a_connection()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Half-open checking is Linux only.");
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        TcpCheckResult result = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(listener.EndPoint, result.RemoteEndPoint);
        Assert.Equal(0, result.ErrorCode);
        Assert.InRange(result.Elapsed, TimeSpan.Zero, Timeout);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_closed_port_is_refused()
    {
        await using var shaker = new TcpShaker();
        using var closed = new ClosedPort();

        TcpCheckResult result = await shaker.CheckAsync(closed.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.Refused, result.Status);
        Assert.Equal(111, result.ErrorCode); // ECONNREFUSED
        Assert.Equal($"{closed.EndPoint} refused the connection", result.Describe());
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_silent_target_times_out_at_the_deadline_as_a_result()
    {
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        var timeout = TimeSpan.FromMilliseconds(300);

        TcpCheckResult result = await shaker.CheckAsync(silent.EndPoint, timeout, Ct);

        Assert.Equal(TcpCheckStatus.Timeout, result.Status);
        // Never before the deadline; after it, within the loop's next wake-up plus scheduling:
        // 250 ms is a loop thread starved for most of a time slice several times over.
        Assert.InRange(result.Elapsed, timeout, timeout + TimeSpan.FromMilliseconds(250));
        Assert.Contains("did not answer within", result.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipv6_loopback_is_checked_half_open()
    {
        Assert.SkipUnless(Socket.OSSupportsIPv6, "IPv6 is not available.");
        using var listener = TryListen(IPAddress.IPv6Loopback);
        Assert.SkipWhen(listener is null, "::1 cannot be bound here.");
        using var closed = new ClosedPort(IPAddress.IPv6Loopback);
        await using var shaker = new TcpShaker();

        TcpCheckResult open = await shaker.CheckAsync($"[::1]:{listener.Port}", Timeout, Ct);
        TcpCheckResult refused = await shaker.CheckAsync(closed.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.Open, open.Status);
        Assert.Equal(IPAddress.IPv6Loopback, open.RemoteEndPoint!.Address);
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Localhost_resolves_to_every_address_and_any_open_one_makes_it_open()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener(IPAddress.Loopback); // IPv4 only
        IPAddress[] expected = await Dns.GetHostAddressesAsync("localhost", Ct);

        IReadOnlyList<TcpCheckResult> all = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"localhost:{listener.Port}"), Timeout, null, Ct);
        TcpCheckResult any = await shaker.CheckAsync($"localhost:{listener.Port}", Timeout, Ct);

        Assert.Equal(expected.Distinct().Count(), all.Count);
        Assert.Equal(TcpCheckStatus.Open, Assert.Single(all, r => r.RemoteEndPoint!.Address.Equals(IPAddress.Loopback)).Status);
        Assert.All(all.Where(r => r.RemoteEndPoint!.AddressFamily == AddressFamily.InterNetworkV6), r => Assert.NotEqual(TcpCheckStatus.Open, r.Status));
        Assert.Equal(TcpCheckStatus.Open, any.Status);
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task A_family_filter_keeps_only_that_family()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();

        IReadOnlyList<TcpCheckResult> v4 = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"localhost:{listener.Port}"), Timeout, AddressFamily.InterNetwork, Ct);
        IReadOnlyList<TcpCheckResult> literalOtherFamily = await shaker.CheckAllAddressesAsync(TcpEndpoint.Parse($"127.0.0.1:{listener.Port}"), Timeout, AddressFamily.InterNetworkV6, Ct);

        Assert.All(v4, r => Assert.Equal(AddressFamily.InterNetwork, r.RemoteEndPoint!.AddressFamily));
        Assert.Equal(TcpCheckStatus.ResolveFailed, Assert.Single(literalOtherFamily).Status);
    }

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

    [Fact]
    public async Task A_thousand_concurrent_checks_all_answer_and_the_server_sees_none()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();

        TcpCheckResult[] results = await Task.WhenAll(Enumerable.Range(0, 1000)
            .Select(i => shaker.CheckAsync(i % 2 == 0 ? listener.EndPoint : closed.EndPoint, Timeout, Ct).AsTask()));

        Assert.Equal(500, results.Count(r => r.Status == TcpCheckStatus.Open));
        Assert.Equal(500, results.Count(r => r.Status == TcpCheckStatus.Refused));
        Assert.Equal(0, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Full_connect_checks_do_reach_the_accept_queue()
    {
        // The counterpart of the half-open tests above: the same listener does see full connects,
        // so an empty accept queue there really means the handshake was never completed.
        await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        using var listener = new LoopbackListener();

        TcpCheckResult result = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpShakerMode.FullConnect, shaker.Mode);
        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(1, listener.DrainAcceptQueue());
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task The_fallback_checker_classifies_open_refused_and_timeout()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using var silent = new SilentTarget();

        TcpCheckResult open = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);
        TcpCheckResult refused = await shaker.CheckAsync(closed.EndPoint, Timeout, Ct);
        TcpCheckResult timeout = await shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(300), Ct);

        Assert.Equal(TcpShakerMode.FullConnect, shaker.Mode);
        Assert.IsType<Engine.FullConnect.FullConnectEngine>(shaker.Engine);
        Assert.True(open.Status == TcpCheckStatus.Open, open.Describe());
        Assert.True(refused.Status == TcpCheckStatus.Refused, refused.Describe());
        Assert.True(timeout.Status == TcpCheckStatus.Timeout, timeout.Describe());
        // Never before the deadline; the fallback's timer and a thread-pool continuation may run
        // late on a busy machine, so up to 500 ms after it.
        Assert.InRange(timeout.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(800));
    }

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
        ulong staleToken = await OnLoop(loop, l => l.InFlightTokens().Single());
        Assert.Equal(TcpCheckStatus.Timeout, (await first).Status);

        ValueTask<TcpCheckResult> second = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        ulong liveToken = await OnLoop(loop, l => l.InFlightTokens().Single());
        bool pendingAtInjection = await OnLoop(loop, l =>
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
        List<ulong> tokens = await OnLoop(loop, l => l.InFlightTokens());
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); tokens.Count == 0 && waited.Elapsed < TimeSpan.FromSeconds(5);)
        {
            await Task.Delay(5, Ct); // the caller's check reaches the loop just after the start completes
            tokens = await OnLoop(loop, l => l.InFlightTokens());
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
        await OnLoop(loop, l => l.InFlightTokens().Count);

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

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Past_the_in_flight_cap_a_check_is_a_local_error()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { MaxChecksInFlight = 2 });
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener();

        // Two held for 2 s: the third is made right after them, so they are still in flight unless
        // the machine stalls this test for seconds.
        ValueTask<TcpCheckResult> a = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        ValueTask<TcpCheckResult> b = shaker.CheckAsync(silent.EndPoint, TimeSpan.FromSeconds(2), Ct);
        TcpCheckResult third = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);
        await a;
        await b;
        TcpCheckResult afterwards = await shaker.CheckAsync(listener.EndPoint, Timeout, Ct);

        Assert.Equal(TcpCheckStatus.LocalError, third.Status);
        Assert.Contains("too many checks in flight", third.Describe(), StringComparison.Ordinal);
        Assert.Equal(TcpCheckStatus.Open, afterwards.Status);
    }

    private static LoopbackListener? TryListen(IPAddress address)
    {
        try
        {
            return new LoopbackListener(address);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static Task<T> OnLoop<T>(CheckLoop loop, Func<CheckLoop, T> action)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l =>
        {
            try
            {
                result.SetResult(action(l));
            }
            catch (Exception e) when (e is not InvalidOperationException { Message: "injected fault" })
            {
                result.SetException(e);
            }
        });
        return result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>The engine once the first check has started it (bounded wait; the start runs behind that check).</summary>
    private static async Task<Engine.ICheckEngine> WaitForEngine(TcpShaker shaker)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (shaker.Engine is null && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(5);
        }

        return shaker.Engine ?? throw new TimeoutException("the engine did not start within 10 s");
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
