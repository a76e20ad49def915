using System.Diagnostics;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>
/// The half-open transport: a check is a non-blocking <c>connect()</c> on a socket of its own, registered
/// with the loop's epoll; on its event the transport reads <c>SO_ERROR</c> and closes the socket at once
/// with zero linger (RST, never the handshake ACK). The <see cref="CheckLoop"/> runs it.
/// </summary>
/// <remarks>
/// Split by concern: this file holds a check socket's life (socket, options, connect, register; on its
/// event, SO_ERROR and close); <c>HalfOpenTransport.Deadlines.cs</c> the checks that time out and the
/// closing of their sockets.
/// </remarks>
internal sealed unsafe partial class HalfOpenTransport : ILoopTransport
{
    private readonly TcpShakerMetrics _metrics;
    private readonly CheckAccounting _accounting;
    private CheckLoop _loop = null!;
    private InFlightTable _inFlight = null!;
    private DeadlineHeap _deadlines = null!;
    private int _epollFd = -1;

    /// <param name="metrics">The engine's metrics (the loop's reaction time, leaked handshake ACKs).</param>
    /// <param name="accounting">The engine's check accounting, through which every check ends.</param>
    internal HalfOpenTransport(TcpShakerMetrics metrics, CheckAccounting accounting)
    {
        _metrics = metrics;
        _accounting = accounting;
    }

    /// <inheritdoc/>
    public int MaxEvents => 256;

    /// <inheritdoc/>
    public void Attach(CheckLoop loop)
    {
        _loop = loop;
        _inFlight = loop.InFlight;
        _deadlines = loop.Deadlines;
        _epollFd = loop.EpollFd;
    }

    /// <inheritdoc/>
    public void Flush()
    {
        // Each connect() goes out as it is made: nothing is batched.
    }

    /// <inheritdoc/>
    public long NextWake(long now) => long.MaxValue;

    /// <inheritdoc/>
    public LoopCheck Release(int slot)
    {
        Libc.Close(_inFlight[slot].Fd);
        return _loop.Remove(slot);
    }

    /// <inheritdoc/>
    public void Start(LoopCheck operation)
    {
        byte* address = stackalloc byte[SocketAddressWriter.MaxSize];
        (int length, int domain) = SocketAddressWriter.Write(operation.EndPoint, new Span<byte>(address, SocketAddressWriter.MaxSize));

        int fd = Libc.Socket(domain, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            _accounting.Finish(operation, Libc.LastErrno, Stopwatch.GetTimestamp());
            return;
        }

        // TCP_QUICKACK = 0 puts the socket in delayed-ACK mode: the kernel holds the handshake ACK for
        // up to 200 ms, and the close() below (zero linger: RST) comes long before it.
        int zero = 0;
        Libc.Linger linger = new() { OnOff = 1, Seconds = 0 };
        if (Libc.SetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_QUICKACK, &zero, sizeof(int)) != 0
            || Libc.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_LINGER, &linger, sizeof(Libc.Linger)) != 0)
        {
            int errno = Libc.LastErrno;
            Libc.Close(fd);
            _accounting.Finish(operation, errno, Stopwatch.GetTimestamp());
            return;
        }

        if (Libc.Connect(fd, address, length) == 0)
        {
            Libc.Close(fd);
            _accounting.Finish(operation, 0, Stopwatch.GetTimestamp());
            return;
        }

        int connectErrno = Libc.LastErrno;
        if (connectErrno is not (Errno.EINPROGRESS or Errno.EINTR or Errno.EALREADY))
        {
            Libc.Close(fd);
            _accounting.Finish(operation, connectErrno, Stopwatch.GetTimestamp());
            return;
        }

        int slot = _inFlight.Add(fd, operation);
        byte* record = stackalloc byte[16];
        EpollEvent.Write(record, Libc.EPOLLOUT | Libc.EPOLLERR | Libc.EPOLLHUP | Libc.EPOLLET, InFlightTable.Token(slot, _inFlight[slot].Generation));
        if (Libc.EpollCtl(_epollFd, Libc.EPOLL_CTL_ADD, fd, record) != 0)
        {
            int errno = Libc.LastErrno;
            _inFlight.Remove(slot);
            Libc.Close(fd);
            _accounting.Finish(operation, errno, Stopwatch.GetTimestamp());
            return;
        }

        operation.Slot = slot;
        _deadlines.Add(slot);
    }

    /// <inheritdoc/>
    public void OnEvent(ulong token, long eventTime)
    {
        int slot = _inFlight.Resolve(token);
        if (slot < 0)
        {
            return; // stale: that socket is already closed and its slot reused or free
        }

        int fd = _inFlight[slot].Fd;
        int error = 0;
        int errorLength = sizeof(int);
        if (Libc.GetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_ERROR, &error, &errorLength) != 0)
        {
            error = Libc.LastErrno;
        }

        // TCP_INFO before close, and only when watched: it sees what epoll cannot, how long ago the
        // SYN-ACK arrived (a loop starved of CPU before epoll_wait returned) and whether the kernel's
        // delayed ACK already went out.
        bool watched = error == 0 && _metrics.WatchesAckLeaks;
        Libc.TcpInfoHead info = default;
        int infoLength = sizeof(Libc.TcpInfoHead);
        bool haveInfo = watched && Libc.GetSockOpt(fd, Libc.IPPROTO_TCP, Libc.TCP_INFO, &info, &infoLength) == 0
            && infoLength >= Libc.TcpInfoHead.RequiredLength;

        Libc.Close(fd);
        long closedAt = Stopwatch.GetTimestamp();
        _metrics.LoopReaction(closedAt - eventTime);
        if (watched)
        {
            _metrics.HandshakeClosed(
                closedAt - eventTime,
                haveInfo ? info.LastAckReceivedMilliseconds : -1,
                haveInfo && info.SegmentsOut - info.TotalRetransmits > 1); // more than the SYN went out
        }

        _accounting.Finish(_loop.Remove(slot), error, closedAt);
    }
}
