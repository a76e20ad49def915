using System.Globalization;
using System.Net;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.Loop;

/// <summary><see cref="TcpShakerOptions.RaiseLoopPriority"/>: the loop thread's nice value, as the kernel reports it.</summary>
public sealed class LoopPriorityTests
{
    [Fact]
    public async Task With_CAP_SYS_NICE_the_loop_thread_runs_at_nice_minus_10_and_checks_as_before()
    {
        Assert.SkipUnless(Native.IsRoot, "raising a thread's priority needs CAP_SYS_NICE (CI runs as root)");
        await using var shaker = new TcpShaker(new TcpShakerOptions { RaiseLoopPriority = true, VerifyOnStart = false });
        using var listener = new LoopbackListener(IPAddress.Loopback);

        var result = await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        var engine = (HalfOpenEngine)shaker.Engine!;

        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(0, await engine.PriorityRaisedAsync().WaitAsync(TimeSpan.FromSeconds(5)));
        var nice = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.Loops[0].Post(_ => nice.SetResult(NiceOfThisThread()));
        Assert.Equal(-10, await nice.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Without_CAP_SYS_NICE_the_loop_reports_the_refusal_and_still_checks()
    {
        Assert.SkipUnless(Native.IsRoot, "the test drops CAP_SYS_NICE from a root thread");
        var metrics = new TcpShakerMetrics(null);
        HalfOpenEngine engine = RawSockets.RunWithoutCapability(RawSockets.CapSysNice, () => new HalfOpenEngine(new TcpShakerOptions { RaiseLoopPriority = true }, metrics));
        await using var _ = engine;
        using var listener = new LoopbackListener(IPAddress.Loopback);

        int errno = await engine.PriorityRaisedAsync().WaitAsync(TimeSpan.FromSeconds(5));
        var result = await engine.CheckAsync(listener.EndPoint, TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);

        Assert.True(errno is Errno.EACCES or Errno.EPERM, $"errno {errno}");
        Assert.Equal(TcpCheckStatus.Open, result.Status);
    }

    /// <summary>The calling thread's nice value: field 19 of /proc/thread-self/stat.</summary>
    private static int NiceOfThisThread()
    {
        string stat = File.ReadAllText("/proc/thread-self/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[16], CultureInfo.InvariantCulture); // fields from the state (3rd) on
    }
}
