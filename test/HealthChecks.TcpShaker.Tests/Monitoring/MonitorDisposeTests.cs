using System.Diagnostics;
using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Tests.Engine.HalfOpen;

namespace HealthChecks.TcpShaker.Tests.Monitoring;

/// <summary>Disposing the monitor with checks in flight: prompt, and every socket closed. Counts this process's sockets, so it runs alone.</summary>
[Collection(nameof(SocketAccountingTests))]
public sealed class MonitorDisposeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispose_with_checks_in_flight_returns_promptly_and_closes_every_socket()
    {
        await using var shaker = new TcpShaker();
        await shaker.StartAsync(Ct);
        using var silent = new SilentTarget();
        int before = ProcessFds.CountSockets();
        var monitor = new TcpShakerMonitor(shaker);
        TcpWatch[] watches = Enumerable.Range(0, 200)
            .Select(_ => monitor.Watch(silent.EndPoint.ToString(), new TcpWatchOptions { Interval = TimeSpan.FromMilliseconds(50), Timeout = TimeSpan.FromSeconds(10) }))
            .ToArray();
        await MonitorTests.WaitUntil(() => ProcessFds.CountSockets() >= before + 150, TimeSpan.FromSeconds(5)); // most are in flight

        var stopwatch = Stopwatch.StartNew();
        await monitor.DisposeAsync();
        stopwatch.Stop();
        int after = await ProcessFds.WaitForSocketsAtMost(before, TimeSpan.FromSeconds(2));

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"dispose took {stopwatch.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(before, after);
        Assert.All(watches, w => Assert.True(w.IsDisposed));
        Assert.Empty(monitor.Watches);
        Assert.Throws<ObjectDisposedException>(() => monitor.Watch(silent.EndPoint.ToString()));
    }
}
