namespace HealthChecks.TcpShaker;

/// <summary>
/// What a TCP health check found at one address; the values of <see cref="Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Data"/>
/// are lists of these, keyed by endpoint. Shown by HealthChecks UI and any JSON writer.
/// </summary>
public sealed class TcpEndpointReport
{
    /// <summary>The address checked (<c>127.0.0.1:5432</c>), or the endpoint text when it did not resolve.</summary>
    public required string Address { get; init; }

    /// <summary>The outcome, as <see cref="TcpCheckStatus"/> text.</summary>
    public required string Status { get; init; }

    /// <summary>Milliseconds from request to answer (for an open port, the handshake time).</summary>
    public required double HandshakeMilliseconds { get; init; }

    /// <summary>The error number behind a failure; 0 when there was none. <see cref="ErrorKind"/> says whose number it is.</summary>
    public required int ErrorCode { get; init; }

    /// <summary>What <see cref="ErrorCode"/> holds, as <see cref="TcpCheckErrorKind"/> text: <c>None</c>, <c>OperatingSystem</c>, <c>Resolver</c>, <c>InFlightLimit</c> or <c>SourcePortLimit</c>.</summary>
    public string ErrorKind { get; init; } = nameof(TcpCheckErrorKind.None);

    /// <summary><c>HalfOpen</c> or <c>FullConnect</c>.</summary>
    public required string Mode { get; init; }

    /// <summary>The report of one result; <paramref name="target"/> names it when no address was checked.</summary>
    internal static TcpEndpointReport From(in TcpCheckResult result, string target, string mode) => new()
    {
        Address = result.RemoteEndPoint?.ToString() ?? target,
        Status = result.Status.ToString(),
        HandshakeMilliseconds = Math.Round(result.Elapsed.TotalMilliseconds, 3),
        ErrorCode = result.ErrorCode,
        ErrorKind = result.ErrorKind.ToString(),
        Mode = mode,
    };
}
