using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// The one place where an error becomes a check result: a Linux errno (the half-open engine; the raw SYN engine
/// for an RST, an ICMP error or a send that failed), a
/// <see cref="SocketError"/> (the full-connect engine, on every platform), a check's own deadline,
/// a resolver failure, the in-flight limit.
/// </summary>
internal static class CheckErrors
{
    /// <summary>The status a Linux errno from <c>connect()</c> or <c>SO_ERROR</c> means.</summary>
    internal static TcpCheckStatus Classify(int errno) => errno switch
    {
        0 or Errno.EISCONN => TcpCheckStatus.Open,
        Errno.ECONNREFUSED or Errno.ECONNRESET => TcpCheckStatus.Refused,
        Errno.ETIMEDOUT => TcpCheckStatus.Timeout,
        Errno.EHOSTUNREACH or Errno.ENETUNREACH or Errno.ENETDOWN or Errno.EHOSTDOWN
            or Errno.EACCES or Errno.EPERM => TcpCheckStatus.Unreachable,
        _ => TcpCheckStatus.LocalError,
    };

    /// <summary>The status a <see cref="SocketError"/> from <see cref="Socket.ConnectAsync(EndPoint)"/> means: the same table in the runtime's portable names.</summary>
    internal static TcpCheckStatus Classify(SocketError error) => error switch
    {
        SocketError.Success or SocketError.IsConnected => TcpCheckStatus.Open,
        SocketError.ConnectionRefused or SocketError.ConnectionReset => TcpCheckStatus.Refused,
        SocketError.TimedOut => TcpCheckStatus.Timeout,
        SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.NetworkDown
            or SocketError.HostDown or SocketError.AccessDenied => TcpCheckStatus.Unreachable,
        _ => TcpCheckStatus.LocalError,
    };

    /// <summary>
    /// The errno Linux gives a connecting socket for an ICMP destination unreachable of this code
    /// (its <c>icmp_err_convert</c> table), so the raw SYN engine reports what <c>connect()</c> would;
    /// 0 for a code that does not end a connect (fragmentation needed, unknown codes).
    /// </summary>
    internal static int IcmpUnreachableErrno(byte code) => code switch
    {
        0 or 6 or 9 or 11 => Errno.ENETUNREACH,
        1 or 10 or 12 or 13 or 14 or 15 => Errno.EHOSTUNREACH,
        2 => Errno.ENOPROTOOPT,
        3 => Errno.ECONNREFUSED,
        5 => Errno.EOPNOTSUPP,
        7 => Errno.EHOSTDOWN,
        8 => Errno.ENONET,
        _ => 0,
    };

    /// <summary>The same for ICMPv6 destination unreachable (Linux's <c>icmpv6_err_convert</c>).</summary>
    internal static int Icmp6UnreachableErrno(byte code) => code switch
    {
        0 => Errno.ENETUNREACH,
        1 or 5 or 6 => Errno.EACCES,
        2 or 3 => Errno.EHOSTUNREACH,
        4 => Errno.ECONNREFUSED,
        _ => 0,
    };

    /// <summary>The result of a check that ended with a Linux errno (0 for open).</summary>
    internal static TcpCheckResult FromErrno(IPEndPoint endPoint, TimeSpan elapsed, int errno)
    {
        TcpCheckStatus status = Classify(errno);
        return status == TcpCheckStatus.Open
            ? new TcpCheckResult(status, elapsed, endPoint, 0)
            : new TcpCheckResult(status, elapsed, endPoint, errno) { ErrorKind = TcpCheckErrorKind.OperatingSystem };
    }

    /// <summary>The result of a connect that failed with a <see cref="SocketException"/>: its native error number.</summary>
    internal static TcpCheckResult FromSocketException(IPEndPoint endPoint, TimeSpan elapsed, SocketException exception) =>
        new(Classify(exception.SocketErrorCode), elapsed, endPoint, exception.NativeErrorCode) { ErrorKind = TcpCheckErrorKind.OperatingSystem };

    /// <summary>A check that reached its own deadline: no operating-system error, the same on every platform and engine.</summary>
    internal static TcpCheckResult DeadlineReached(IPEndPoint endPoint, TimeSpan elapsed) =>
        new(TcpCheckStatus.Timeout, elapsed, endPoint, 0);

    /// <summary>A check not attempted because the engine already had its maximum in flight.</summary>
    internal static TcpCheckResult InFlightLimitReached(IPEndPoint endPoint) =>
        new(TcpCheckStatus.LocalError, TimeSpan.Zero, endPoint, 0) { ErrorKind = TcpCheckErrorKind.InFlightLimit };

    /// <summary>
    /// A raw SYN check not attempted because its destination already holds every source port the engine may
    /// reserve (half the ephemeral range at the most, so the host keeps the rest).
    /// </summary>
    internal static TcpCheckResult SourcePortLimitReached(IPEndPoint endPoint, TimeSpan elapsed) =>
        new(TcpCheckStatus.LocalError, elapsed, endPoint, 0) { ErrorKind = TcpCheckErrorKind.SourcePortLimit };

    /// <summary>A host name that did not resolve.</summary>
    internal static TcpCheckResult ResolveFailed(SocketError error, TimeSpan elapsed) =>
        new(TcpCheckStatus.ResolveFailed, elapsed, null, (int)error) { ErrorKind = TcpCheckErrorKind.Resolver };

    /// <summary>An engine that could not start (no fd for epoll): a local condition, like a check's own EMFILE.</summary>
    internal static TcpCheckResult EngineNotStarted(IPEndPoint endPoint, int errno) =>
        new(TcpCheckStatus.LocalError, TimeSpan.Zero, endPoint, errno) { ErrorKind = TcpCheckErrorKind.OperatingSystem };

    /// <summary>What a check learns when its loop no longer runs: the loop's fault, or that the engine stopped.</summary>
    internal static Exception LoopStopped(string loop, Exception? fault) => fault is not null
        ? new InvalidOperationException(
            $"The TcpShaker {loop} failed ({fault.GetType().Name}: {fault.Message}) and no longer runs checks.",
            fault)
        : new OperationCanceledException("The TcpShaker engine was stopped before the check ran.");
}
