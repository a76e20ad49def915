using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Tests.Engine.HalfOpen;

namespace HealthChecks.TcpShaker.Tests.Engine.Loop;

/// <summary>
/// A wake-up that races the loop's shutdown must never write into the eventfd's old number, which
/// the kernel may already have given to another file. Runs with the fd-counting tests, alone, so no
/// other test takes the freed number meanwhile.
/// </summary>
[Collection(nameof(SocketAccountingTests))]
public sealed partial class WakeAfterShutdownTests
{
    private const int F_GETFD = 1;
    private const int O_NONBLOCK = 0x800;
    private const int O_CLOEXEC = 0x80000;
    private const int EBADF = 9;
    private const int EAGAIN = 11;

    [Fact]
    public async Task A_late_wake_up_writes_nothing_into_the_reused_descriptor()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The epoll loop is Linux only.");
        var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        await shaker.StartAsync(TestContext.Current.CancellationToken);
        var engine = Assert.IsType<HalfOpenEngine>(shaker.Engine);
        WakeSignal wake = engine.Loops[0].WakeSignalForTest;
        int oldFd = wake.Fd;
        int[] pipe = new int[2];
        Assert.Equal(0, Pipe2(pipe, O_NONBLOCK | O_CLOEXEC));

        await shaker.DisposeAsync(); // the loop exits and closes its eventfd
        try
        {
            // Give the eventfd's old number to the write end of the pipe, as the kernel would to the next open().
            Assert.Equal(-1, Fcntl(oldFd, F_GETFD));
            Assert.Equal(EBADF, Marshal.GetLastPInvokeError());
            Assert.Equal(oldFd, Dup3(pipe[1], oldFd, O_CLOEXEC));

            // A thread that took the armed flag just before the shutdown now writes.
            wake.Arm();
            wake.Signal();

            byte[] buffer = new byte[16];
            nint read = Read(pipe[0], buffer, buffer.Length);
            Assert.True(read == -1 && Marshal.GetLastPInvokeError() == EAGAIN, $"the late wake-up wrote {read} bytes into another file's descriptor");
        }
        finally
        {
            Close(oldFd);
            Close(pipe[0]);
            Close(pipe[1]);
        }
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2([Out] int[] fds, int flags);

    [LibraryImport("libc", EntryPoint = "dup3", SetLastError = true)]
    private static partial int Dup3(int oldFd, int newFd, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, [Out] byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
