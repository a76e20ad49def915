using System.Net;

namespace HealthChecks.TcpShaker;

/// <summary>The result of checking one address.</summary>
/// <param name="Status">What the check found.</param>
/// <param name="Elapsed">Time from the request to the answer (for <see cref="TcpCheckStatus.Open"/>, the handshake time).</param>
/// <param name="RemoteEndPoint">The address that was checked, or <see langword="null"/> when none was (a name that did not resolve).</param>
/// <param name="ErrorCode">The error number behind a failure, 0 when there is none; <see cref="ErrorKind"/> says whose number it is.</param>
public readonly record struct TcpCheckResult(TcpCheckStatus Status, TimeSpan Elapsed, IPEndPoint? RemoteEndPoint, int ErrorCode)
{
    /// <summary>
    /// What <see cref="ErrorCode"/> holds: an operating-system error number, a resolver's
    /// <see cref="System.Net.Sockets.SocketError"/>, or nothing; <see cref="TcpCheckErrorKind.InFlightLimit"/>
    /// when the check was not attempted because too many were in flight.
    /// </summary>
    public TcpCheckErrorKind ErrorKind { get; init; }

    /// <summary>Whether the port is open.</summary>
    public bool IsOpen => Status == TcpCheckStatus.Open;

    /// <summary>One sentence for people: what happened, naming the address.</summary>
    /// <returns>For example "127.0.0.1:5432 refused the connection".</returns>
    public string Describe() => TcpCheckDescriptions.Describe(this, RemoteEndPoint?.ToString() ?? "the endpoint");
}
