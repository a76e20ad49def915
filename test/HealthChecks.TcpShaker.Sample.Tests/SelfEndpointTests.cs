using Microsoft.Extensions.Configuration;

namespace HealthChecks.TcpShaker.Sample.Tests;

public sealed class SelfEndpointTests
{
    private static string From(params (string Key, string Value)[] settings) =>
        SelfEndpoint.FromConfiguration(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build());

    [Theory]
    [InlineData("http://127.0.0.1:5080", "127.0.0.1:5080")]
    [InlineData("http://localhost:5000", "127.0.0.1:5000")]
    [InlineData("http://*:8080", "127.0.0.1:8080")]
    [InlineData("http://+:80;https://+:443", "127.0.0.1:80")]
    [InlineData(" http://0.0.0.0:7000 ; http://[::1]:7001", "127.0.0.1:7000")]
    [InlineData("http://[::]:8080", "[::1]:8080")]
    [InlineData("http://[::1]:9000", "[::1]:9000")]
    [InlineData("https://127.0.0.2:8443", "127.0.0.2:8443")]
    public void Follows_the_first_url_the_app_listens_on(string urls, string expected) =>
        Assert.Equal(expected, From(("urls", urls)));

    [Fact]
    public void Falls_back_to_http_ports_then_to_the_aspnetcore_default()
    {
        Assert.Equal("127.0.0.1:8080", From(("http_ports", "8080;8081")));
        Assert.Equal("127.0.0.1:5000", From());
    }

    [Fact]
    public void A_port_chosen_at_start_cannot_be_followed_and_says_what_to_set()
    {
        var error = Assert.Throws<InvalidOperationException>(() => From(("urls", "http://127.0.0.1:0")));
        Assert.Contains("HealthChecks:SelfHttp:Endpoints", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_self_endpoint_is_a_valid_tcp_endpoint() =>
        Assert.Equal(8080, TcpEndpoint.Parse(From(("urls", "http://[::]:8080"))).Port);
}
