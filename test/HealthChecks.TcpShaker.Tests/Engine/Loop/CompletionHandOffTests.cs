using System.Net;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Tests.Engine.Loop;

/// <summary>
/// The loop hands results to callers a burst at a time (a few thread-pool work items for a burst, each worker
/// running the continuations in turn): every caller still gets its own result, never on the loop thread, and a
/// continuation that blocks holds back no later check. Alone, since the hand-off count is the
/// process's thread-pool work items.
/// </summary>
[Collection(nameof(CompletionHandOffTests))]
[CollectionDefinition(nameof(CompletionHandOffTests), DisableParallelization = true)]
public sealed class CompletionHandOffTests
{
    private const int Callers = 1_000;
    private const int ChecksPerCaller = 5;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(TcpShakerMode.HalfOpen)]
    [InlineData(TcpShakerMode.RawSyn)]
    public async Task A_burst_of_results_costs_a_few_hand_offs_and_each_caller_gets_its_own_result_off_the_loop_thread(TcpShakerMode mode)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The loops are Linux's.");
        using var open = new LoopbackListener(backlog: 4096);
        using var closed = new ClosedPort();
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = mode == TcpShakerMode.RawSyn, LoopCount = 1 });
        await shaker.StartAsync(Ct);
        Assert.SkipWhen(shaker.Mode != mode, $"{mode} mode did not start here (it runs {shaker.Mode}): raw SYN mode needs CAP_NET_RAW, CI runs as root");
        await RunCallersAsync(shaker, open.EndPoint, closed.EndPoint, checksPerCaller: 1); // the pools at their peak

        long workItemsBefore = ThreadPool.CompletedWorkItemCount;
        int onLoopThread = await RunCallersAsync(shaker, open.EndPoint, closed.EndPoint, ChecksPerCaller);
        long workItems = ThreadPool.CompletedWorkItemCount - workItemsBefore;

        Assert.Equal(0, onLoopThread);
        TestContext.Current.TestOutputHelper?.WriteLine($"{workItems} thread-pool work items for {Callers * ChecksPerCaller} checks");
        // A work item a result would be 5,000 and more; a worker a burst makes it a few hundred at most, the rest of
        // the process's pool work (xunit's, the timers') included.
        Assert.True(workItems < Callers * ChecksPerCaller / 4, $"{workItems} thread-pool work items for {Callers * ChecksPerCaller} checks");
    }

    [Fact]
    public async Task A_continuation_that_blocks_holds_back_no_later_check()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The loops are Linux's.");
        using var open = new LoopbackListener();
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var release = new ManualResetEventSlim();
        using var blocking = new ManualResetEventSlim();

        // A caller whose continuation blocks its pool thread (synchronously, as bad code does) until released.
        Task blocker = Task.Run(async () =>
        {
            await shaker.CheckAsync(open.EndPoint, TimeSpan.FromSeconds(2), Ct);
            blocking.Set();
            release.Wait(TimeSpan.FromSeconds(20), Ct);
        }, Ct);
        Assert.True(blocking.Wait(TimeSpan.FromSeconds(10), Ct));

        try
        {
            // Meanwhile 200 checks, one after another, each get their result within their own timeout.
            for (int i = 0; i < 200; i++)
            {
                TcpCheckResult result = await shaker.CheckAsync(open.EndPoint, TimeSpan.FromSeconds(2), Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
                Assert.Equal(TcpCheckStatus.Open, result.Status);
            }
        }
        finally
        {
            release.Set();
        }

        await blocker;
    }

    /// <summary>Each caller checks in turn, alternating an open and a refused port, and asserts its own result; returns how many continuations ran on a loop thread.</summary>
    private static async Task<int> RunCallersAsync(TcpShaker shaker, IPEndPoint open, IPEndPoint closed, int checksPerCaller)
    {
        int onLoopThread = 0;
        async Task CallerAsync(int caller)
        {
            for (int i = 0; i < checksPerCaller; i++)
            {
                IPEndPoint target = (caller + i) % 2 == 0 ? open : closed;
                TcpCheckResult result = await shaker.CheckAsync(target, TimeSpan.FromSeconds(5), Ct);
                if (Thread.CurrentThread.Name?.StartsWith("TcpShaker", StringComparison.Ordinal) == true)
                {
                    Interlocked.Increment(ref onLoopThread);
                }

                Assert.Equal(target, result.RemoteEndPoint);
                Assert.Equal(target == open ? TcpCheckStatus.Open : TcpCheckStatus.Refused, result.Status);
            }
        }

        // Started on this thread (no work item each): from the first await on, each caller runs where its result is delivered.
        var callers = new Task[Callers];
        for (int c = 0; c < Callers; c++)
        {
            callers[c] = CallerAsync(c);
        }

        await Task.WhenAll(callers);
        return onLoopThread;
    }
}
