using System.Net;

namespace HealthChecks.TcpShaker.Tests.Endpoints;

public sealed class EndpointParsingTests
{
    [Theory]
    [InlineData("127.0.0.1:5432", "127.0.0.1", 5432, true)]
    [InlineData("[::1]:6379", "::1", 6379, true)]
    [InlineData("[fe80::1%1]:22", "fe80::1%1", 22, true)]
    [InlineData("localhost:80", "localhost", 80, false)]
    [InlineData("db.internal:65535", "db.internal", 65535, false)]
    [InlineData("my_service.local.:1", "my_service.local", 1, false)]
    [InlineData("bücher.example:443", "xn--bcher-kva.example", 443, false)]
    public void Valid_endpoints_parse(string text, string host, int port, bool isLiteral)
    {
        TcpEndpoint endpoint = TcpEndpoint.Parse(text);

        Assert.Equal(host, endpoint.Host);
        Assert.Equal(port, endpoint.Port);
        Assert.Equal(isLiteral, endpoint.Address is not null);
        Assert.Equal(endpoint, TcpEndpoint.Parse(endpoint.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("localhost", "no port")]
    [InlineData("localhost:", "no port")]
    [InlineData(":80", "no host")]
    [InlineData("localhost:0", "out of range")]
    [InlineData("localhost:65536", "out of range")]
    [InlineData("localhost:+80", "not a number")]
    [InlineData("localhost:-1", "not a number")]
    [InlineData("localhost: 80", "white space")]
    [InlineData(" localhost:80", "white space")]
    [InlineData("local host:80", "white space")]
    [InlineData("::1:80", "brackets")]
    [InlineData("[::1]80", "':port'")]
    [InlineData("[::1:80", "no ']'")]
    [InlineData("[127.0.0.1]:80", "not an IPv6 address")]
    [InlineData("256.1.1.1:80", "not a valid IPv4")]
    [InlineData("1.2.3:80", "not a valid IPv4")]
    [InlineData("10.0.0.010:80", "leading zero")]
    [InlineData("-bad-.example:80", "not a valid host name")]
    [InlineData("a..b:80", "empty label")]
    [InlineData("tab\there:80", "white space")]
    public void Invalid_endpoints_throw_naming_the_value(string text, string reason)
    {
        var exception = Assert.Throws<ArgumentException>(() => TcpEndpoint.Parse(text));

        Assert.Contains($"'{text.Replace("\t", "\\u0009", StringComparison.Ordinal)}'", exception.Message, StringComparison.Ordinal);
        Assert.Contains(reason, exception.Message, StringComparison.Ordinal);
        Assert.False(TcpEndpoint.TryParse(text, out _));
    }

    [Fact]
    public void A_huge_value_is_rejected_with_a_shortened_name()
    {
        string text = new string('a', 10_000) + ":80";

        var exception = Assert.Throws<ArgumentException>(() => TcpEndpoint.Parse(text));

        Assert.Contains("aaaa...", exception.Message, StringComparison.Ordinal);
        Assert.True(exception.Message.Length < 400);
    }

    [Fact]
    public void Ip_endpoints_convert_and_port_zero_is_refused()
    {
        Assert.Equal("[::1]:8080", TcpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.IPv6Loopback, 8080)).ToString());
        Assert.Throws<ArgumentException>(() => TcpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
    }
}
