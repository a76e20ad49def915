using System.Runtime.InteropServices;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Tests;

public sealed unsafe class EpollEventLayoutTests
{
    [Fact]
    public void Layout_matches_the_architecture()
    {
        switch (RuntimeInformation.ProcessArchitecture)
        {
            case Architecture.X64:
                Assert.Equal(12, EpollEvent.Size);
                Assert.Equal(4, EpollEvent.DataOffset);
                break;
            case Architecture.Arm64:
                Assert.Equal(16, EpollEvent.Size);
                Assert.Equal(8, EpollEvent.DataOffset);
                break;
            default:
                Assert.Skip($"No expected layout recorded for {RuntimeInformation.ProcessArchitecture}.");
                break;
        }
    }

    [Fact]
    public void The_kernel_returns_the_data_written_in_every_record_of_a_batch()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux only.");
        const int Count = 3;
        int epfd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        var fds = new int[Count];
        byte* events = stackalloc byte[16 * (Count + 1)];
        byte* record = stackalloc byte[16];
        try
        {
            for (int i = 0; i < Count; i++)
            {
                fds[i] = Libc.EventFd(1, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC); // readable at once
                EpollEvent.Write(record, Libc.EPOLLIN, 0x1122_3344_5566_7700UL + (ulong)i);
                Assert.Equal(0, Libc.EpollCtl(epfd, Libc.EPOLL_CTL_ADD, fds[i], record));
            }

            int n = Libc.EpollWait(epfd, events, Count + 1, 1000);

            Assert.Equal(Count, n);
            var seen = Enumerable.Range(0, n).Select(i => EpollEvent.ReadData(events, i)).Order().ToArray();
            Assert.Equal([0x1122_3344_5566_7700UL, 0x1122_3344_5566_7701UL, 0x1122_3344_5566_7702UL], seen);
            Assert.All(Enumerable.Range(0, n), i => Assert.Equal(Libc.EPOLLIN, EpollEvent.ReadEvents(events, i)));
        }
        finally
        {
            foreach (int fd in fds)
            {
                Libc.Close(fd);
            }

            Libc.Close(epfd);
        }
    }
}
