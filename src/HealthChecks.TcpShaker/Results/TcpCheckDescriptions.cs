using System.Globalization;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker;

/// <summary>Turns results into the one-sentence descriptions shown in health reports and the CLI.</summary>
internal static class TcpCheckDescriptions
{
    internal static string Describe(in TcpCheckResult result, string target)
    {
        string ms = result.Elapsed.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        return result.Status switch
        {
            TcpCheckStatus.Open => $"{target} is open (handshake {ms} ms)",
            TcpCheckStatus.Refused => $"{target} refused the connection",
            TcpCheckStatus.Timeout => $"{target} did not answer within {ms} ms",
            TcpCheckStatus.Unreachable => $"{target} is unreachable ({ErrorName(result.ErrorCode)})",
            TcpCheckStatus.ResolveFailed => $"{target} could not be resolved ({(System.Net.Sockets.SocketError)result.ErrorCode})",
            TcpCheckStatus.LocalError => $"{target} could not be checked: {LocalErrorReason(result)}",
            _ => $"{target}: {result.Status}",
        };
    }

    private static string LocalErrorReason(in TcpCheckResult result) => result.ErrorKind switch
    {
        TcpCheckErrorKind.InFlightLimit => "too many checks in flight (TcpShakerOptions.MaxChecksInFlight)",
        TcpCheckErrorKind.SourcePortLimit => "raw SYN mode has no source port left for this destination (its checks in flight hold all the engine may reserve: half the ephemeral range at the most)",
        _ => LocalErrorReason(result.ErrorCode),
    };

    private static string LocalErrorReason(int errno) => errno switch
    {
        Errno.EMFILE => "this process has no file descriptors left (EMFILE)",
        Errno.ENFILE => "the system has no file descriptors left (ENFILE)",
        Errno.EADDRNOTAVAIL => "no local ephemeral port is free (EADDRNOTAVAIL)",
        Errno.ENOBUFS or Errno.ENOMEM => "the kernel has no socket buffers left (ENOBUFS)",
        _ => $"local error {ErrorName(errno)}",
    };

    internal static string ErrorName(int errno) => errno switch
    {
        Errno.EHOSTUNREACH => "EHOSTUNREACH",
        Errno.ENETUNREACH => "ENETUNREACH",
        Errno.ENETDOWN => "ENETDOWN",
        Errno.EHOSTDOWN => "EHOSTDOWN",
        Errno.EACCES => "EACCES",
        Errno.EPERM => "EPERM",
        _ => "errno " + errno.ToString(CultureInfo.InvariantCulture),
    };
}
