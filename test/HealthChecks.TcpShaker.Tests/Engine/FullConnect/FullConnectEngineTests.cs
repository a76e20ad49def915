using HealthChecks.TcpShaker.Engine.FullConnect;

namespace HealthChecks.TcpShaker.Tests.Engine.FullConnect;

/// <summary>The full-connect engine: it does reach the accept queue, and classifies as the half-open one does.</summary>
public sealed class FullConnectEngineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

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
        Assert.IsType<FullConnectEngine>(shaker.Engine);
        Assert.True(open.Status == TcpCheckStatus.Open, open.Describe());
        Assert.True(refused.Status == TcpCheckStatus.Refused, refused.Describe());
        Assert.True(timeout.Status == TcpCheckStatus.Timeout, timeout.Describe());
        // Never before the deadline; the fallback's timer and a thread-pool continuation may run
        // late on a busy machine, so up to 500 ms after it.
        Assert.InRange(timeout.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(800));
    }
}
