namespace HealthChecks.TcpShaker;

/// <summary>What <see cref="TcpCheckResult.ErrorCode"/> holds.</summary>
public enum TcpCheckErrorKind
{
    /// <summary>No error code (0): the port is open, or the check reached its own deadline (<see cref="TcpCheckStatus.Timeout"/>).</summary>
    None,

    /// <summary>The operating system's error number from a socket call: errno on Linux and macOS, a Winsock code on Windows.</summary>
    OperatingSystem,

    /// <summary>A <see cref="System.Net.Sockets.SocketError"/> from resolving the host name (<see cref="TcpCheckStatus.ResolveFailed"/>).</summary>
    Resolver,

    /// <summary>
    /// The engine already had <see cref="TcpShakerOptions.MaxChecksInFlight"/> checks, so this one was not
    /// attempted (<see cref="TcpCheckStatus.LocalError"/>, error code 0).
    /// </summary>
    InFlightLimit,

    /// <summary>
    /// Raw SYN mode only: checks of this destination already hold every source port the engine may reserve
    /// (at most half of the host's ephemeral range and of the process's descriptors, so the host keeps the
    /// rest for its own connections), so this one was not attempted (<see cref="TcpCheckStatus.LocalError"/>,
    /// error code 0). Other destinations are unaffected: a source port serves many destinations at once.
    /// </summary>
    SourcePortLimit,
}
