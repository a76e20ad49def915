using System.Net;
using HealthChecks.TcpShaker.Tests.Support;

namespace HealthChecks.TcpShaker.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Open_refused_timeout()
    {
        await using var shaker = new TcpShaker();
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using var silent = new SilentTarget();
        var ct = TestContext.Current.CancellationToken;

        var open = await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(2), ct);
        var refused = await shaker.CheckAsync(closed.EndPoint, TimeSpan.FromSeconds(2), ct);
        var timeout = await shaker.CheckAsync(silent.EndPoint, TimeSpan.FromMilliseconds(300), ct);

        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
        Assert.Equal(TcpCheckStatus.Open, open.Status);
        Assert.Equal(TcpCheckStatus.Refused, refused.Status);
        Assert.Equal(TcpCheckStatus.Timeout, timeout.Status);
        Assert.False(listener.HasPendingConnection);
    }
}
