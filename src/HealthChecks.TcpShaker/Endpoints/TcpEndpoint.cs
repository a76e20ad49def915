using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker;

/// <summary>
/// A parsed <c>host:port</c>: an IP literal (<c>10.0.0.5:5432</c>, <c>[::1]:6379</c>,
/// <c>[fe80::1%2]:22</c>) or a DNS name (<c>db.internal:5432</c>) that is resolved at check time.
/// </summary>
public sealed class TcpEndpoint : IEquatable<TcpEndpoint>
{
    internal TcpEndpoint(string host, int port, IPAddress? address)
    {
        Host = host;
        Port = port;
        Address = address;
    }

    /// <summary>The host name, or the IP literal's text without brackets.</summary>
    public string Host { get; }

    /// <summary>The port, 1 to 65535.</summary>
    public int Port { get; }

    /// <summary>The address when <see cref="Host"/> is an IP literal; <see langword="null"/> for a DNS name.</summary>
    public IPAddress? Address { get; }

    /// <summary>Creates an endpoint for an address.</summary>
    /// <param name="endPoint">The address and port; the port must not be 0.</param>
    /// <returns>The endpoint.</returns>
    public static TcpEndpoint FromIPEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint.Port == 0)
        {
            throw new ArgumentException(InvalidEndpointMessage(endPoint.ToString(), "port 0 cannot be checked"), nameof(endPoint));
        }

        return new TcpEndpoint(endPoint.Address.ToString(), endPoint.Port, endPoint.Address);
    }

    /// <summary>Parses <c>host:port</c>.</summary>
    /// <param name="value">The text, for example <c>localhost:5432</c> or <c>[::1]:6379</c>.</param>
    /// <returns>The endpoint.</returns>
    /// <exception cref="ArgumentException">The text is not a valid endpoint; the message names it and says why.</exception>
    public static TcpEndpoint Parse(string value)
    {
        if (TryParse(value, out TcpEndpoint? endpoint, out string? error))
        {
            return endpoint;
        }

        throw new ArgumentException(InvalidEndpointMessage(value, error), nameof(value));
    }

    /// <summary>Parses <c>host:port</c> without throwing.</summary>
    /// <param name="value">The text.</param>
    /// <param name="endpoint">The endpoint when the text is valid.</param>
    /// <returns>Whether the text is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out TcpEndpoint? endpoint) =>
        TryParse(value, out endpoint, out _);

    internal static bool TryParse(string? value, [NotNullWhen(true)] out TcpEndpoint? endpoint, [NotNullWhen(false)] out string? error) =>
        TcpEndpointParser.TryParse(value, out endpoint, out error);

    /// <summary>The one sentence every invalid endpoint is reported with: the value (made printable) and why.</summary>
    internal static string InvalidEndpointMessage(string? value, string reason) => TcpEndpointParser.InvalidEndpointMessage(value, reason);

    /// <summary>The endpoint as <c>host:port</c>, with IPv6 literals in brackets.</summary>
    /// <returns>The text.</returns>
    public override string ToString() =>
        Address?.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <inheritdoc />
    public bool Equals(TcpEndpoint? other) =>
        other is not null && Port == other.Port && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as TcpEndpoint);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(Host), Port);
}
