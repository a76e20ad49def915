using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Tests.Support;

namespace HealthChecks.TcpShaker.Reliability.Tests;

/// <summary>The process runs out of file descriptors while checking.</summary>
[Collection(nameof(ProcessWide))]
public sealed class ResourceExhaustionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_full_fd_table_is_LocalError_EMFILE_and_the_loop_recovers_once_fds_are_free()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "RLIMIT_NOFILE and /proc/self/fd are Linux");
        using var listener = new LoopbackListener();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var ct = TestContext.Current.CancellationToken;
        var before = await shaker.CheckAsync(listener.EndPoint, Timeout, ct); // the loop and its epoll/eventfd exist now

        var during = new List<TcpCheckResult>();
        int filled;
        Assert.Equal(0, Native.getrlimit(Native.RLIMIT_NOFILE, out Native.RLimit original));
        var fillers = new List<int>();
        try
        {
            // Lower the soft limit to just above the highest descriptor in use, then fill every free slot
            // below it with /dev/null: the next socket() gets EMFILE, exactly as at the real limit.
            int highest = Directory.EnumerateFileSystemEntries("/proc/self/fd").Select(p => int.Parse(Path.GetFileName(p), System.Globalization.CultureInfo.InvariantCulture)).Max();
            var lowered = new Native.RLimit { Current = (ulong)highest + 32, Maximum = original.Maximum };
            Assert.Equal(0, Native.setrlimit(Native.RLIMIT_NOFILE, lowered));
            while (fillers.Count < 100_000)
            {
                int fd = Native.Open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC);
                if (fd < 0)
                {
                    Assert.Equal(Errno.EMFILE, Marshal.GetLastPInvokeError());
                    break;
                }

                fillers.Add(fd);
            }

            filled = fillers.Count;
            for (int i = 0; i < 50; i++)
            {
                during.Add(await shaker.CheckAsync(listener.EndPoint, Timeout, ct));
            }
        }
        finally
        {
            foreach (int fd in fillers)
            {
                Native.Close(fd);
            }

            Native.setrlimit(Native.RLIMIT_NOFILE, original);
        }

        var after = new List<TcpCheckResult>();
        for (int i = 0; i < 50; i++)
        {
            after.Add(await shaker.CheckAsync(listener.EndPoint, Timeout, ct));
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"filled {filled} descriptors; during: {during[0].Describe()}");
        Assert.Equal(TcpCheckStatus.Open, before.Status);
        Assert.True(filled > 0);
        Assert.All(during, r =>
        {
            Assert.Equal(TcpCheckStatus.LocalError, r.Status);
            Assert.Equal(Errno.EMFILE, r.ErrorCode);
            Assert.Contains("this process has no file descriptors left (EMFILE)", r.Describe(), StringComparison.Ordinal);
        });
        Assert.All(after, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.False(listener.HasPendingConnection);
    }
}
