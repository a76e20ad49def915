using System.Net;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine;

/// <summary>Stopping with work in flight, a dying loop, and a kernel where half-open checking is broken.</summary>
[Collection(nameof(ProcessWide))]
public sealed class LifecycleTests
{
    private const int InFlight = 10_000;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Disposing_the_engine_with_10000_checks_in_flight_completes_every_caller_and_closes_every_socket()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7010);
        int socketsBefore = ProcessFds.CountSockets();
        var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        await shaker.StartAsync(TestContext.Current.CancellationToken);

        Task<TcpCheckResult>[] checks = Start(shaker, target);
        int socketsInFlight = await WaitForSocketsAtLeast(socketsBefore + InFlight);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await shaker.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        (int results, int canceled) = await Outcomes(checks);
        TestContext.Current.TestOutputHelper?.WriteLine($"dispose with {socketsInFlight - socketsBefore} sockets open: every caller done after {clock.Elapsed.TotalMilliseconds:0} ms ({canceled} canceled, {results} results)");
        int socketsAfter = await ProcessFds.WaitForSocketsAtMost(socketsBefore, TimeSpan.FromSeconds(5));

        Assert.True(socketsInFlight >= socketsBefore + InFlight, $"only {socketsInFlight - socketsBefore} sockets were open");
        Assert.Equal(InFlight, results + canceled);
        Assert.Equal(InFlight, canceled); // nothing answered: the target is silent and the timeout long
        Assert.Equal(socketsBefore, socketsAfter);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => shaker.CheckAsync(target, Long).AsTask());
    }

    [Fact]
    public async Task Stopping_the_host_with_10000_checks_in_flight_completes_every_caller_and_closes_every_socket()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: true);
        var target = ns.DropPort(7011);
        int socketsBefore = ProcessFds.CountSockets();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHealthChecks().AddTcpShaker("silent", o =>
        {
            o.Endpoints.Add(target.ToString());
            o.Timeout = Long;
        });
        using IHost host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        var shaker = host.Services.GetRequiredService<TcpShaker>();
        var report = host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(TestContext.Current.CancellationToken);

        Task<TcpCheckResult>[] checks = Start(shaker, target);
        int socketsInFlight = await WaitForSocketsAtLeast(socketsBefore + InFlight);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10));
        (int results, int canceled) = await Outcomes(checks);
        TestContext.Current.TestOutputHelper?.WriteLine($"host stop with {socketsInFlight - socketsBefore} sockets open: every caller done after {clock.Elapsed.TotalMilliseconds:0} ms ({canceled} canceled, {results} results)");
        HealthReport health = await report.WaitAsync(TimeSpan.FromSeconds(10));
        int socketsAfter = await ProcessFds.WaitForSocketsAtMost(socketsBefore, TimeSpan.FromSeconds(5));

        Assert.True(socketsInFlight >= socketsBefore + InFlight, $"only {socketsInFlight - socketsBefore} sockets were open");
        Assert.Equal(InFlight, results + canceled);
        Assert.NotEqual(HealthStatus.Healthy, health.Status);
        Assert.Equal(socketsBefore, socketsAfter);
    }

    [Fact]
    public async Task A_dead_loop_fails_its_pending_checks_fast_with_the_reason_and_the_engine_restarts()
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        using var silent = new SilentTarget();
        using var listener = new LoopbackListener();
        int socketsBefore = ProcessFds.CountSockets();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false }, loggerFactory);
        await shaker.StartAsync(TestContext.Current.CancellationToken);
        var engine = (HalfOpenEngine)shaker.Engine!;
        CheckLoop loop = engine.Loops[0];

        var pending = Enumerable.Range(0, 100).Select(_ => shaker.CheckAsync(silent.EndPoint, Long).AsTask()).ToArray();
        Assert.Equal(100, await CountInFlight(loop, 100));
        loop.Post(_ => throw new InvalidOperationException("injected fault"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(10)));
        TestContext.Current.TestOutputHelper?.WriteLine($"loop killed: 100 pending checks failed within {clock.Elapsed.TotalMilliseconds:0.#} ms");

        Assert.All(pending, p =>
        {
            Assert.True(p.IsFaulted, "a pending check did not fail");
            var failure = Assert.IsType<InvalidOperationException>(p.Exception!.InnerException);
            Assert.Contains("checking loop failed (InvalidOperationException: injected fault)", failure.Message, StringComparison.Ordinal);
            Assert.Equal("injected fault", failure.InnerException!.Message);
        });

        // The engine restarts (after 100 ms) and answers the checks made after the fault.
        await shaker.EngineAfterAsync(engine).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        TcpCheckResult after = await shaker.CheckAsync(listener.EndPoint, Long, TestContext.Current.CancellationToken);
        Assert.Equal(TcpCheckStatus.Open, after.Status);
        Assert.False(listener.HasPendingConnection);
        var error = Assert.Single(logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Contains("the engine restarts in 100 ms", error.Message, StringComparison.Ordinal);
        Assert.Equal("injected fault", error.Exception!.Message);
        Assert.Equal(socketsBefore, await ProcessFds.WaitForSocketsAtMost(socketsBefore, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_broken_technique_falls_back_to_FullConnect_logs_the_reason_once_and_still_checks_right()
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        await using var shaker = new TcpShaker(new TcpShakerOptions(), loggerFactory) { ForceBrokenTechnique = "injected: the kernel ACKed the handshake" };
        var ct = TestContext.Current.CancellationToken;

        var open = new List<TcpCheckResult>();
        var refused = new List<TcpCheckResult>();
        for (int i = 0; i < 5; i++)
        {
            open.Add(await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct));
            refused.Add(await shaker.CheckAsync(closed.EndPoint, TimeSpan.FromSeconds(2), ct));
        }

        Assert.Equal(TcpShakerMode.FullConnect, shaker.Mode);
        Assert.All(open, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.All(refused, r => Assert.Equal(TcpCheckStatus.Refused, r.Status));
        Assert.Equal(5, listener.DrainAcceptQueue()); // full connects: the server saw every check
        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("FullConnect", warning.Message, StringComparison.Ordinal);
        Assert.Contains("injected: the kernel ACKed the handshake", warning.Message, StringComparison.Ordinal);
    }

    private static Task<TcpCheckResult>[] Start(TcpShaker shaker, IPEndPoint target)
    {
        var checks = new Task<TcpCheckResult>[InFlight];
        for (int i = 0; i < checks.Length; i++)
        {
            checks[i] = shaker.CheckAsync(target, Long).AsTask();
        }

        return checks;
    }

    /// <summary>Waits (bounded) until every check has completed; counts results and cancellations, fails on anything else.</summary>
    private static async Task<(int Results, int Canceled)> Outcomes(Task<TcpCheckResult>[] checks)
    {
        await Task.WhenAny(Task.WhenAll(checks), Task.Delay(TimeSpan.FromSeconds(10)));
        int results = 0;
        int canceled = 0;
        foreach (Task<TcpCheckResult> check in checks)
        {
            Assert.True(check.IsCompleted, "a caller still waits after the engine stopped");
            if (check.IsCompletedSuccessfully)
            {
                results++;
            }
            else if (check.IsCanceled || check.Exception?.InnerException is OperationCanceledException)
            {
                canceled++;
            }
            else
            {
                Assert.Fail($"a check failed with {check.Exception}");
            }
        }

        return (results, canceled);
    }

    private static async Task<int> WaitForSocketsAtLeast(int expected)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        int count = ProcessFds.CountSockets();
        while (count < expected && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
            count = ProcessFds.CountSockets();
        }

        return count;
    }

    /// <summary>Asks the loop (bounded) how many checks it holds until it holds <paramref name="expected"/>.</summary>
    private static async Task<int> CountInFlight(CheckLoop loop, int expected)
    {
        int count = 0;
        for (int i = 0; i < 200 && count < expected; i++)
        {
            var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(l => answer.SetResult(l.InFlightTokens().Count));
            count = await answer.Task.WaitAsync(TimeSpan.FromSeconds(5));
            if (count < expected)
            {
                await Task.Delay(20);
            }
        }

        return count;
    }
}
