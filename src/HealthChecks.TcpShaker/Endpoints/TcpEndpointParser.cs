using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker;

/// <summary>
/// Reads <c>host:port</c> text into a <see cref="TcpEndpoint"/>, strictly: IP literals as the
/// runtime reads them but never in octal or hex forms, host names after IDNA mapping, and every
/// refusal said in one sentence naming the value.
/// </summary>
internal static class TcpEndpointParser
{
    private const int MaxHostLength = 253;

    internal static bool TryParse(string? value, [NotNullWhen(true)] out TcpEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "expected host:port, got an empty string";
            return false;
        }

        if (value.Length > MaxHostLength + 8)
        {
            error = $"it is {value.Length} characters long; a host name has at most {MaxHostLength}";
            return false;
        }

        foreach (char c in value)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                error = "it contains white space or a control character";
                return false;
            }
        }

        string hostText;
        string portText;
        if (value[0] == '[')
        {
            int close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = "'[' opens an IPv6 address that no ']' closes";
                return false;
            }

            if (close + 1 >= value.Length || value[close + 1] != ':')
            {
                error = "expected ':port' after the bracketed IPv6 address";
                return false;
            }

            hostText = value[1..close];
            portText = value[(close + 2)..];
            if (!IPAddress.TryParse(hostText, out IPAddress? v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"'{Quote(hostText)}' inside the brackets is not an IPv6 address";
                return false;
            }

            if (!TryParsePort(portText, out int v6Port, out error))
            {
                return false;
            }

            endpoint = new TcpEndpoint(hostText, v6Port, v6);
            return true;
        }

        int colon = value.LastIndexOf(':');
        if (colon < 0)
        {
            error = "no port: expected host:port";
            return false;
        }

        if (value.IndexOf(':', StringComparison.Ordinal) != colon)
        {
            error = "an IPv6 address must be written in brackets, as [::1]:port";
            return false;
        }

        hostText = value[..colon];
        portText = value[(colon + 1)..];
        if (hostText.Length == 0)
        {
            error = "no host before ':'";
            return false;
        }

        if (!TryParsePort(portText, out int port, out error))
        {
            return false;
        }

        if (LooksNumeric(hostText))
        {
            if (!IPAddress.TryParse(hostText, out IPAddress? v4) || v4.AddressFamily != AddressFamily.InterNetwork || CountDots(hostText) != 3)
            {
                error = $"'{Quote(hostText)}' is not a valid IPv4 address";
                return false;
            }

            // IPAddress.Parse (like inet_aton) reads "010" as octal: 010.010.010.010 is 8.8.8.8. Refuse the ambiguity.
            if (HasLeadingZeroPart(hostText))
            {
                error = $"'{Quote(hostText)}' has an IPv4 part with a leading zero, which some parsers read as octal; write it without";
                return false;
            }

            endpoint = new TcpEndpoint(hostText, port, v4);
            return true;
        }

        if (!TryNormalizeHostName(hostText, out string? host, out error))
        {
            return false;
        }

        endpoint = new TcpEndpoint(host, port, null);
        return true;
    }

    private static bool TryParsePort(string text, out int port, [NotNullWhen(false)] out string? error)
    {
        port = 0;
        if (text.Length == 0)
        {
            error = "no port after ':'";
            return false;
        }

        if (text.Length > 5 || !text.All(char.IsAsciiDigit))
        {
            error = $"port '{Quote(text)}' is not a number from 1 to 65535";
            return false;
        }

        port = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        if (port is < 1 or > 65535)
        {
            error = $"port {port} is out of range: expected 1 to 65535";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Whether a dotted address has a part such as "010" (scanned in place: this runs on every check by text).</summary>
    private static bool HasLeadingZeroPart(ReadOnlySpan<char> address)
    {
        for (int start = 0; start < address.Length;)
        {
            int dot = address[start..].IndexOf('.');
            int length = dot < 0 ? address.Length - start : dot;
            if (length > 1 && address[start] == '0')
            {
                return true;
            }

            start += length + 1;
        }

        return false;
    }

    private static bool LooksNumeric(string host) => host.All(c => char.IsAsciiDigit(c) || c == '.');

    private static int CountDots(string host) => host.Count(c => c == '.');

    private static bool TryNormalizeHostName(string host, [NotNullWhen(true)] out string? normalized, [NotNullWhen(false)] out string? error)
    {
        normalized = null;
        string ascii = host;
        if (!host.All(char.IsAscii))
        {
            try
            {
                ascii = new IdnMapping().GetAscii(host);
            }
            catch (ArgumentException)
            {
                error = $"'{Quote(host)}' is not a valid internationalized host name";
                return false;
            }
        }

        string trimmed = ascii.EndsWith('.') ? ascii[..^1] : ascii;
        if (trimmed.Length is 0 or > MaxHostLength)
        {
            error = $"host name must be 1 to {MaxHostLength} characters";
            return false;
        }

        foreach (string label in trimmed.Split('.'))
        {
            if (label.Length is 0 or > 63)
            {
                error = $"'{Quote(host)}' has an empty label or one longer than 63 characters";
                return false;
            }

            if (label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                error = $"'{Quote(host)}' is not a valid host name (letters, digits, '-' and '_' between dots)";
                return false;
            }
        }

        // A last label of digits reads as an IPv4 address to the resolver (getaddrinfo takes "0x7f.0.0.1" or
        // fullwidth digits mapped by IDNA as 127.0.0.1): no valid host name ends so (RFC 3696, section 2).
        if (trimmed[(trimmed.LastIndexOf('.') + 1)..].All(char.IsAsciiDigit))
        {
            error = $"'{Quote(host)}' is neither a valid IPv4 address nor a host name (its last label is all digits)";
            return false;
        }

        normalized = trimmed;
        error = null;
        return true;
    }

    /// <summary>The one sentence every invalid endpoint is reported with: the value (made printable) and why.</summary>
    internal static string InvalidEndpointMessage(string? value, string reason) =>
        $"'{Quote(value)}' is not a valid TCP endpoint: {reason}.";

    /// <summary>Makes hostile input safe to put in an exception message: printable, and not too long.</summary>
    internal static string Quote(string? value)
    {
        if (value is null)
        {
            return "(null)";
        }

        const int MaxShown = 80;
        var builder = new System.Text.StringBuilder(Math.Min(value.Length, MaxShown) + 8);
        foreach (char c in value.Length > MaxShown ? value[..MaxShown] : value)
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        if (value.Length > MaxShown)
        {
            builder.Append("...");
        }

        return builder.ToString();
    }

}
