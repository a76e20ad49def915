using System.Collections.Concurrent;
using System.Diagnostics;

namespace HealthChecks.TcpShaker.Diagnostics.Tests;

/// <summary>
/// The span per check. Every test that attaches an <see cref="ActivityListener"/> lives in this one class,
/// so they run one at a time; spans are matched by the port of the test's own target.
/// </summary>
public sealed class TracingTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly TcpShaker _shaker = new(new TcpShakerOptions { VerifyOnStart = false });
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public async ValueTask InitializeAsync() => await _shaker.StartAsync(TestContext.Current.CancellationToken);

    private ActivityListener Listen(ActivitySamplingResult sampling)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "HealthChecks.TcpShaker",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampling,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private List<Activity> SpansFor(int port) =>
        _stopped.Where(a => a.GetTagItem("server.port") is int p && p == port).ToList();

    [Fact]
    public async Task A_listened_check_records_one_client_span_with_its_tags()
    {
        using ActivityListener _ = Listen(ActivitySamplingResult.AllDataAndRecorded);
        using var listener = new LoopbackListener();

        TcpCheckResult result = await _shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Activity span = Assert.Single(SpansFor(listener.Port));
        Assert.Equal("tcpshaker.check", span.OperationName);
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Equal("127.0.0.1", span.GetTagItem("server.address"));
        Assert.Equal("tcp", span.GetTagItem("network.transport"));
        Assert.Equal("ipv4", span.GetTagItem("network.type"));
        Assert.Equal(OperatingSystem.IsLinux() ? "half_open" : "full_connect", span.GetTagItem("tcpshaker.mode"));
        Assert.Equal("open", span.GetTagItem("tcpshaker.status"));
        Assert.Null(span.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Unset, span.Status);
        Assert.True(span.Duration > TimeSpan.Zero);
    }

    [Fact]
    public async Task A_refused_check_is_an_error_span_with_its_error_type()
    {
        using ActivityListener _ = Listen(ActivitySamplingResult.AllDataAndRecorded);
        using var closed = new ClosedPort(System.Net.IPAddress.IPv6Loopback);

        TcpCheckResult result = await _shaker.CheckAsync(closed.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Refused, result.Status);
        Activity span = Assert.Single(SpansFor(closed.EndPoint.Port));
        Assert.Equal("::1", span.GetTagItem("server.address"));
        Assert.Equal("ipv6", span.GetTagItem("network.type"));
        Assert.Equal("refused", span.GetTagItem("tcpshaker.status"));
        Assert.Equal("refused", span.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Contains("refused", span.StatusDescription, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_canceled_check_ends_its_span_as_an_error()
    {
        using ActivityListener _ = Listen(ActivitySamplingResult.AllDataAndRecorded);
        using var silent = new SilentTarget();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await _shaker.CheckAsync(silent.EndPoint, Timeout, cancel.Token));

        Activity span = Assert.Single(SpansFor(silent.EndPoint.Port));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Contains("OperationCanceledException", (string?)span.GetTagItem("error.type"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_span_is_made_when_the_listener_samples_none()
    {
        using var listener = new LoopbackListener();
        var started = new ConcurrentQueue<Activity>();
        using (var sampleNone = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "HealthChecks.TcpShaker",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
            ActivityStarted = started.Enqueue,
            ActivityStopped = _stopped.Enqueue,
        })
        {
            ActivitySource.AddActivityListener(sampleNone);
            Assert.True(TcpShakerActivity.Source.HasListeners());
            Assert.Equal(TcpCheckStatus.Open, (await _shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken)).Status);
        }

        Assert.Empty(started);
        Assert.Empty(SpansFor(listener.Port));
    }

    [Fact]
    public async Task When_nobody_listens_no_activity_is_made_by_any_source()
    {
        // A listener on every OTHER source, including the nameless one that activities made with
        // "new Activity(...)" report to: our source still has no listener, and any span the check
        // made some other way (a second source, a bare Activity) would show up here.
        using var listener = new LoopbackListener();
        var elsewhere = new ConcurrentQueue<Activity>();
        using var others = new ActivityListener
        {
            ShouldListenTo = source => source.Name != "HealthChecks.TcpShaker",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = elsewhere.Enqueue,
        };
        ActivitySource.AddActivityListener(others);
        Activity? before = Activity.Current;

        Assert.False(TcpShakerActivity.Source.HasListeners());
        TcpCheckResult result = await _shaker.CheckAsync(listener.EndPoint, Timeout, TestContext.Current.CancellationToken);

        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Same(before, Activity.Current);
        Assert.DoesNotContain(elsewhere, a => a.OperationName == "tcpshaker.check" || (a.GetTagItem("server.port") is int p && p == listener.Port));
        Assert.Empty(SpansFor(listener.Port));
    }

    public async ValueTask DisposeAsync() => await _shaker.DisposeAsync();
}
