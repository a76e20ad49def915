using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Interop;
using HealthChecks.TcpShaker.Reliability.Tests.Support;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine;

/// <summary>
/// The process runs out of file descriptors while checking. Under load (two busy loops on two cores)
/// the thread pool grew while the table was full, and the runtime cannot start a thread then:
/// Thread.StartCore threw OutOfMemoryException on a worker, fatal for the process, which took the
/// whole reliability run down. So the filler first grows the pool (<see cref="FdTableFiller"/>), and
/// each scenario runs in a child process (this test assembly, one test, <see cref="ChildVariable"/>
/// set), so that anything the full table still breaks fails this test only.
/// </summary>
[Collection(nameof(ProcessWide))]
public sealed class ResourceExhaustionTests
{
    private const string ChildVariable = "TCPSHAKER_FD_CHILD";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    [Fact]
    public void A_full_fd_table_is_LocalError_EMFILE_and_the_loop_recovers_once_fds_are_free() =>
        RunChild(nameof(Child_a_full_fd_table_is_LocalError_EMFILE_and_the_loop_recovers_once_fds_are_free));

    [Fact]
    public void An_engine_that_cannot_start_answers_LocalError_and_starts_once_fds_are_free() =>
        RunChild(nameof(Child_an_engine_that_cannot_start_answers_LocalError_and_starts_once_fds_are_free));

    private static void RunChild(string test)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "RLIMIT_NOFILE, epoll and /proc/self/fd are Linux");
        string[] child = ChildTest.Command(typeof(ResourceExhaustionTests), test, ChildVariable, "1");
        ChildTest.AssertPassed(Sh.TryRun(TimeSpan.FromMinutes(2), child[0], child[1..]));
    }

    private static void SkipUnlessChild() =>
        Assert.SkipUnless(Environment.GetEnvironmentVariable(ChildVariable) == "1", "runs only in a child process, started by the test of the same name");

    [Fact]
    public async Task Child_a_full_fd_table_is_LocalError_EMFILE_and_the_loop_recovers_once_fds_are_free()
    {
        SkipUnlessChild();
        using var listener = new LoopbackListener();
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var ct = TestContext.Current.CancellationToken;
        var before = await shaker.CheckAsync(listener.EndPoint, Timeout, ct); // the loop and its epoll/eventfd exist now

        var during = new List<TcpCheckResult>();
        int filled;
        using (FdTableFiller filler = FdTableFiller.Fill())
        {
            filled = filler.Count;
            for (int i = 0; i < 50; i++)
            {
                during.Add(await shaker.CheckAsync(listener.EndPoint, Timeout, ct));
            }
        }

        var after = new List<TcpCheckResult>();
        for (int i = 0; i < 50; i++)
        {
            after.Add(await shaker.CheckAsync(listener.EndPoint, Timeout, ct));
        }

        Console.WriteLine($"child: filled {filled} descriptors; during: {during[0].Describe()}");
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

    [Fact]
    public async Task Child_an_engine_that_cannot_start_answers_LocalError_and_starts_once_fds_are_free()
    {
        SkipUnlessChild();
        using var listener = new LoopbackListener();
        var ct = TestContext.Current.CancellationToken;
        await using (var warm = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false }))
        {
            // Load the engine's code first, as a running app has: with no fd free the runtime cannot
            // load an assembly either (and remembers that failure for the process).
            await warm.CheckAsync(listener.EndPoint, Timeout, ct);
        }

        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        TcpCheckResult during;
        using (FdTableFiller.Fill())
        {
            during = await shaker.CheckAsync(listener.EndPoint, Timeout, ct); // epoll_create1 gets EMFILE
        }

        TcpCheckResult after = await shaker.CheckAsync(listener.EndPoint, Timeout, ct);

        Assert.Equal(TcpCheckStatus.LocalError, during.Status);
        Assert.Equal(Errno.EMFILE, during.ErrorCode);
        Assert.Contains("(EMFILE)", during.Describe(), StringComparison.Ordinal);
        Assert.Equal(TcpCheckStatus.Open, after.Status);
        Assert.Equal(TcpShakerMode.HalfOpen, shaker.Mode);
    }

    /// <summary>
    /// Lowers the soft RLIMIT_NOFILE to just above the highest descriptor in use and fills every free slot
    /// below it with /dev/null, so the next fd the process asks for gets EMFILE, as at the real limit.
    /// Dispose closes them and restores the limit.
    /// </summary>
    private sealed class FdTableFiller : IDisposable
    {
        private readonly List<int> _fds = [];
        private readonly Native.RLimit _original;

        private FdTableFiller()
        {
            Assert.Equal(0, Native.GetRLimit(Native.RLIMIT_NOFILE, out _original));
        }

        internal int Count => _fds.Count;

        internal static FdTableFiller Fill()
        {
            GrowThreadPool(16);
            var filler = new FdTableFiller();
            try
            {
                int highest = Directory.EnumerateFileSystemEntries("/proc/self/fd").Select(p => int.Parse(Path.GetFileName(p), System.Globalization.CultureInfo.InvariantCulture)).Max();
                var lowered = new Native.RLimit { Current = (ulong)highest + 32, Maximum = filler._original.Maximum };
                Assert.Equal(0, Native.SetRLimit(Native.RLIMIT_NOFILE, lowered));
                while (filler._fds.Count < 100_000)
                {
                    int fd = Native.Open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC);
                    if (fd < 0)
                    {
                        Assert.Equal(Errno.EMFILE, Marshal.GetLastPInvokeError());
                        break;
                    }

                    filler._fds.Add(fd);
                }

                Assert.True(filler._fds.Count > 0);
                return filler;
            }
            catch
            {
                filler.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Makes <paramref name="threads"/> pool threads exist now (all busy at once, then idle for the
        /// pool's 20 s before they retire), so the pool need not start one while the table is full.
        /// </summary>
        private static void GrowThreadPool(int threads)
        {
            ThreadPool.GetMinThreads(out int workers, out int io);
            ThreadPool.SetMinThreads(Math.Max(workers, threads), io);
            using var together = new Barrier(threads);
            using var done = new CountdownEvent(threads);
            for (int i = 0; i < threads; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(_ =>
                {
                    together.SignalAndWait(TimeSpan.FromSeconds(10));
                    done.Signal();
                }, null);
            }

            Assert.True(done.Wait(TimeSpan.FromSeconds(20)), "the thread pool did not grow");
        }

        public void Dispose()
        {
            foreach (int fd in _fds)
            {
                Libc.Close(fd);
            }

            _fds.Clear();
            Native.SetRLimit(Native.RLIMIT_NOFILE, _original);
        }
    }
}
