using System.Globalization;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Tests.Interop;

/// <summary>
/// <see cref="EpollEvent"/>'s layout, checked against sources outside the code: what a C compiler
/// says <c>struct epoll_event</c> is on this machine, and where the kernel itself writes each record.
/// </summary>
public sealed unsafe class EpollEventLayoutTests
{
    [Fact]
    public void Layout_is_what_a_C_compiler_says_struct_epoll_event_is_here()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux only.");
        string? cc = Sh.Which("cc") ?? Sh.Which("gcc");
        Assert.SkipWhen(cc is null, "no C compiler (cc or gcc) to ask for offsetof(struct epoll_event, data).");
        string dir = Directory.CreateTempSubdirectory("epoll-layout-").FullName;
        try
        {
            string source = Path.Combine(dir, "layout.c");
            string binary = Path.Combine(dir, "layout");
            File.WriteAllText(source, """
                #include <stddef.h>
                #include <stdio.h>
                #include <sys/epoll.h>
                int main(void)
                {
                    printf("%zu %zu\n", sizeof(struct epoll_event), offsetof(struct epoll_event, data));
                    return 0;
                }
                """);
            (int compiled, _, string errors) = Sh.TryRun(TimeSpan.FromMinutes(1), cc!, "-o", binary, source);
            Assert.SkipWhen(compiled != 0, $"the C compiler failed (no libc headers?): {errors}");

            string[] words = Sh.Run(binary).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

            Assert.Equal(int.Parse(words[0], CultureInfo.InvariantCulture), EpollEvent.Size);
            Assert.Equal(int.Parse(words[1], CultureInfo.InvariantCulture), EpollEvent.DataOffset);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Layout_is_where_the_kernel_writes_each_record_of_a_batch()
    {
        // Found from the raw bytes epoll_wait returns, not from the code's table: the buffer is filled
        // with a marker, and the distinct 64-bit data values are looked up byte by byte.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux only.");
        const int Count = 2;
        const int BufferSize = 64;
        const ulong Data = 0x1122_3344_5566_7700UL;
        int epfd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        var fds = new int[Count];
        byte* events = stackalloc byte[BufferSize];
        byte* record = stackalloc byte[16];
        new Span<byte>(events, BufferSize).Fill(0xEE);
        try
        {
            for (int i = 0; i < Count; i++)
            {
                fds[i] = Libc.EventFd(1, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC); // readable at once
                EpollEvent.Write(record, Libc.EPOLLIN, Data + (ulong)i);
                Assert.Equal(0, Libc.EpollCtl(epfd, Libc.EPOLL_CTL_ADD, fds[i], record));
            }

            Assert.Equal(Count, Libc.EpollWait(epfd, events, Count, 1000));

            var raw = new ReadOnlySpan<byte>(events, BufferSize);
            var offsets = new int[Count];
            for (int i = 0; i < Count; i++)
            {
                offsets[i] = raw.IndexOf(BitConverter.GetBytes(Data + (ulong)i));
            }

            Array.Sort(offsets);
            Assert.DoesNotContain(-1, offsets); // the kernel wrote back both data values (so Write put them where it reads)
            int dataOffset = offsets[0];
            int stride = offsets[1] - offsets[0];
            Assert.Equal(dataOffset, EpollEvent.DataOffset);
            Assert.Equal(stride, EpollEvent.Size);
            Assert.Equal(Libc.EPOLLIN, BitConverter.ToUInt32(raw[..4])); // the mask leads the record
            Assert.Equal(Libc.EPOLLIN, BitConverter.ToUInt32(raw.Slice(stride, 4)));
            Assert.Equal(0xEE, raw[stride * Count]); // nothing past the last record
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
