using System.Diagnostics;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tests;

/// <summary>The silent-target fixture itself: silent when its accept queue filled, and loud when it did not.</summary>
public sealed class SilentTargetTests
{
    [Fact]
    public void A_target_whose_queue_never_filled_refuses_to_be_used()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new SilentTarget(fill: false));

        Assert.Contains("accept queue did not fill", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task A_filled_target_leaves_a_connect_unanswered()
    {
        using var silent = new SilentTarget();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var waited = Stopwatch.StartNew();

        // 500 ms by the Stopwatch: a loopback answer (SYN-ACK or RST) takes microseconds, so a
        // connect still waiting after half a second, even on a busy machine, was dropped by the full queue.
        Task connect = client.ConnectAsync(silent.EndPoint, TestContext.Current.CancellationToken).AsTask();
        while (!connect.IsCompleted && waited.Elapsed < TimeSpan.FromMilliseconds(500))
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.False(connect.IsCompleted, $"the connect was answered after {waited.Elapsed.TotalMilliseconds:0} ms");
    }
}
