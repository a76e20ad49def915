using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>Maps the errno of a failed connect (or of <c>SO_ERROR</c>) to a check status, in one place.</summary>
internal static class ErrnoClassifier
{
    internal static TcpCheckStatus Classify(int errno) => errno switch
    {
        0 or Errno.EISCONN => TcpCheckStatus.Open,
        Errno.ECONNREFUSED or Errno.ECONNRESET => TcpCheckStatus.Refused,
        Errno.ETIMEDOUT => TcpCheckStatus.Timeout,
        Errno.EHOSTUNREACH or Errno.ENETUNREACH or Errno.ENETDOWN or Errno.EHOSTDOWN
            or Errno.EACCES or Errno.EPERM => TcpCheckStatus.Unreachable,
        _ => TcpCheckStatus.LocalError,
    };
}
