using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace HealthChecks.TcpShaker.Tests.Endpoints;

/// <summary>Hostile endpoint text and configuration: never a crash or a hang; an ArgumentException naming the value, or a valid endpoint.</summary>
public sealed class BadInputTests
{
    private static readonly string[] Pieces =
    [
        "", ":", "::", "[", "]", "[]", "%", "%25", "%eth0", "%lo", "%1", "::1", "fe80::1", "::ffff:127.0.0.1", "1:2:3:4:5:6:7:8",
        "127.0.0.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "0x7f.0.0.1", "017.0.0.1", "1e3", "4294967295",
        "localhost", "db", "db.internal", "-a", "a-", "a_b", "xn--", "xn--bcher-kva", "b\u00fccher", "\u0130stanbul", "\u00df", "\u200b",
        "\ufeff", "\u202e", "\ud800", "\udc00", "\ud83d\ude00", "\u0661\u0662", "\uff11\uff12", "\0", "\t", "\n", "\r\n", " ", "\u00a0",
        "\u0085", "\u2028", "+", "-", "+80", "-80", " 80", "80 ", "0", "00080", "65535", "65536", "99999", "123456", "2147483648",
        "80", "443", ".", "..", "a.", ".a", "*", "/", "\\", "@", "#", "?", "http://", "user@", "\"", "'", "{0}", "${HOME}", "%n%s",
        new string('a', 63), new string('a', 64), new string('x', 253), new string('y', 254), new string('z', 4096),
    ];

    [Fact(Timeout = 120_000)]
    public void Parse_never_crashes_and_round_trips_what_it_accepts()
    {
        var random = new Random(20261124);
        int accepted = 0;
        int rejected = 0;
        foreach (string value in Corpus(random, 30_000))
        {
            if (Judge(value))
            {
                accepted++;
            }
            else
            {
                rejected++;
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"accepted {accepted}, rejected {rejected}");
        Assert.True(accepted > 1_000, $"the corpus should hold valid endpoints too (accepted {accepted})");
        Assert.True(rejected > 1_000);
    }

    [Theory]
    [InlineData("127.0.0.1:80", "127.0.0.1", 80)]
    [InlineData("[::1]:6379", "::1", 6379)]
    [InlineData("db.internal.:5432", "db.internal", 5432)]
    [InlineData("localhost:00080", "localhost", 80)]
    [InlineData("b\u00fccher.example:80", "xn--bcher-kva.example", 80)]
    public void Known_good_forms_parse(string value, string host, int port)
    {
        TcpEndpoint endpoint = TcpEndpoint.Parse(value);
        Assert.Equal(host, endpoint.Host);
        Assert.Equal(port, endpoint.Port);
        Assert.Equal(endpoint, TcpEndpoint.Parse(endpoint.ToString()));
    }

    [Theory]
    [InlineData("127.0.0.1:+80")]
    [InlineData("127.0.0.1: 80")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("::1:80")]
    [InlineData("[::1]80")]
    [InlineData("[127.0.0.1]:80")]
    [InlineData("1.2.3:80")]
    [InlineData("256.0.0.1:80")]
    [InlineData("host\0.example:80")]
    [InlineData("a..b:80")]
    [InlineData("-a.example:80")]
    [InlineData(":80")]
    [InlineData("host:")]
    [InlineData("010.010.010.010:53")]
    [InlineData("0x7f.0.0.1:80")]
    [InlineData("\uff11\uff12\uff17.0.0.1:80")]
    [InlineData("db.123:80")]
    public void Known_bad_forms_are_rejected_naming_the_value(string value)
    {
        var exception = Assert.ThrowsAny<ArgumentException>(() => TcpEndpoint.Parse(value));
        Assert.Contains(TcpEndpointParser.Quote(value), exception.Message, StringComparison.Ordinal);
        Assert.False(TcpEndpoint.TryParse(value, out _));
    }

    [Fact]
    public void Null_and_empty_are_rejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => TcpEndpoint.Parse(null!));
        Assert.ThrowsAny<ArgumentException>(() => TcpEndpoint.Parse(string.Empty));
        Assert.False(TcpEndpoint.TryParse(null, out _));
    }

    [Fact(Timeout = 120_000)]
    public void Configuration_binding_never_crashes_and_names_what_is_wrong()
    {
        var random = new Random(424242);
        string[] timeouts = ["00:00:02", "00:00:00", "-00:00:01", "0", "1", "abc", "", " ", "10675199.02:48:05.4775807", "-10675199.02:48:05.4775808",
            "00:10:00", "00:10:00.0000001", "1.00:00:00", "1e9", "\0", "00:00:00.0000001", "99999999999999999999"];
        string[] families = ["InterNetwork", "InterNetworkV6", "Unix", "Unspecified", "2", "23", "1", "abc", "", "-1"];
        string[] flags = ["true", "false", "maybe", "", "1"];
        int registered = 0;
        int rejected = 0;
        List<string> corpus = Corpus(random, 3_000).ToList();
        foreach (string endpoint in corpus)
        {
            // Half the registrations get a valid endpoint, so the other settings are judged too.
            var values = new Dictionary<string, string?> { ["Endpoints:0"] = random.Next(2) == 0 ? endpoint : $"127.0.0.1:{random.Next(1, 65536)}" };
            if (random.Next(2) == 0)
            {
                values["Endpoints:1"] = corpus[random.Next(corpus.Count)];
            }

            if (random.Next(2) == 0)
            {
                values["Timeout"] = timeouts[random.Next(timeouts.Length)];
            }

            if (random.Next(3) == 0)
            {
                values["DegradedThreshold"] = timeouts[random.Next(timeouts.Length)];
            }

            if (random.Next(3) == 0)
            {
                values["MinimumInterval"] = timeouts[random.Next(timeouts.Length)];
            }

            if (random.Next(3) == 0)
            {
                values["AddressFamily"] = families[random.Next(families.Length)];
            }

            if (random.Next(3) == 0)
            {
                values["RequireAllAddresses"] = flags[random.Next(flags.Length)];
            }

            IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
            var services = new ServiceCollection();
            try
            {
                services.AddHealthChecks().AddTcpShaker("fuzzed", configuration);
                registered++;
                foreach (string key in new[] { "Endpoints:0", "Endpoints:1" })
                {
                    if (values.TryGetValue(key, out string? accepted))
                    {
                        Assert.True(TcpEndpoint.TryParse(accepted, out _), $"registered an invalid endpoint '{TcpEndpointParser.Quote(accepted)}'");
                    }
                }
            }
            catch (ArgumentException exception)
            {
                rejected++;
                Assert.Contains("'fuzzed'", exception.Message, StringComparison.Ordinal);
                foreach (string key in new[] { "Endpoints:0", "Endpoints:1" })
                {
                    if (values.TryGetValue(key, out string? endpointText) && !TcpEndpoint.TryParse(endpointText, out _) && exception.Message.Contains("invalid endpoint", StringComparison.Ordinal))
                    {
                        Assert.Contains("is not a valid TCP endpoint", exception.Message, StringComparison.Ordinal);
                    }
                }
            }
            catch (Exception exception)
            {
                Assert.Fail($"{exception.GetType().Name} for {string.Join(", ", values.Select(v => $"{v.Key}='{TcpEndpointParser.Quote(v.Value)}'"))}: {exception}");
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"registered {registered}, rejected {rejected}");
        Assert.True(registered > 100);
        Assert.True(rejected > 100);
    }

    [Theory]
    [InlineData("Endpoints:0", "127.0.0.1:+80", "127.0.0.1:+80")]
    [InlineData("Timeout", "abc", "abc")]
    [InlineData("Timeout", "-00:00:01", "-00:00:01")]
    [InlineData("AddressFamily", "Unix", "Unix")]
    public void A_bad_configured_value_is_named_in_the_error(string key, string value, string named)
    {
        var values = new Dictionary<string, string?> { ["Endpoints:0"] = "127.0.0.1:80", [key] = value };
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();

        var exception = Assert.ThrowsAny<ArgumentException>(() => new ServiceCollection().AddHealthChecks().AddTcpShaker("configured", configuration));

        Assert.Contains("'configured'", exception.Message, StringComparison.Ordinal);
        Assert.Contains(named, exception.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TimeSpan> BadTimeouts =>
    [
        TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.FromSeconds(-1), Timeout.InfiniteTimeSpan, TcpShaker.MaxTimeout + TimeSpan.FromTicks(1),
        TimeSpan.FromDays(365), TimeSpan.MaxValue, TimeSpan.MinValue,
    ];

    [Theory]
    [MemberData(nameof(BadTimeouts))]
    public async Task The_API_rejects_a_bad_timeout_in_every_overload(TimeSpan timeout)
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        var endpoint = new IPEndPoint(IPAddress.Loopback, 9);

        // The overloads without a token are the ones under test.
#pragma warning disable xUnit1051
        var errors = new List<ArgumentOutOfRangeException>
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => { _ = shaker.CheckAsync(endpoint, timeout).AsTask(); }),
            Assert.Throws<ArgumentOutOfRangeException>(() => { _ = shaker.CheckAsync(TcpEndpoint.FromIPEndPoint(endpoint), timeout).AsTask(); }),
            Assert.Throws<ArgumentOutOfRangeException>(() => { _ = shaker.CheckAsync("127.0.0.1:9", timeout).AsTask(); }),
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => shaker.CheckAllAddressesAsync(TcpEndpoint.FromIPEndPoint(endpoint), timeout)),
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => shaker.CheckAllAddressesAsync(TcpEndpoint.Parse("localhost:9"), timeout)),
        };
#pragma warning restore xUnit1051

        Assert.All(errors, e =>
        {
            Assert.Equal("timeout", e.ParamName);
            Assert.Contains("more than zero and at most 10 minutes", e.Message, StringComparison.Ordinal);
        });
    }

    [Theory]
    [MemberData(nameof(BadTimeouts))]
    public void Registration_rejects_a_bad_options_timeout(TimeSpan timeout)
    {
        var exception = Assert.ThrowsAny<ArgumentException>(() => new ServiceCollection().AddHealthChecks()
            .AddTcpShaker("slow", o =>
            {
                o.Endpoints.Add("127.0.0.1:9");
                o.Timeout = timeout;
            }));

        Assert.Contains("'slow' has Timeout", exception.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TimeSpan> BadRegistrationTimeouts =>
    [
        TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.FromSeconds(-1), TcpShaker.MaxTimeout + TimeSpan.FromTicks(1), TimeSpan.FromDays(365), TimeSpan.MaxValue, TimeSpan.MinValue,
    ];

    [Theory]
    [MemberData(nameof(BadRegistrationTimeouts))]
    public void Registration_rejects_a_bad_registration_timeout(TimeSpan timeout)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddHealthChecks().AddTcpShaker("slow", "127.0.0.1:9", timeout: timeout));

        Assert.Equal("timeout", exception.ParamName);
        Assert.Contains("'slow' has registration timeout", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_edges_of_the_timeout_range_are_accepted_and_an_infinite_registration_timeout_means_none()
    {
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });
        using var listener = new LoopbackListener();
        var ct = TestContext.Current.CancellationToken;

        var tiny = await shaker.CheckAsync(listener.EndPoint, TimeSpan.FromTicks(1), ct);
        var longest = await shaker.CheckAsync(listener.EndPoint, TcpShaker.MaxTimeout, ct);
        new ServiceCollection().AddHealthChecks().AddTcpShaker("none", "127.0.0.1:9", timeout: Timeout.InfiniteTimeSpan);
        new ServiceCollection().AddHealthChecks().AddTcpShaker("max", "127.0.0.1:9", timeout: TcpShaker.MaxTimeout);

        Assert.Contains(tiny.Status, new[] { TcpCheckStatus.Open, TcpCheckStatus.Timeout });
        Assert.Equal(TcpCheckStatus.Open, longest.Status);
        Assert.False(listener.HasPendingConnection);
    }

    /// <summary>Checks one string: a valid endpoint that round-trips, or an ArgumentException naming it. Returns whether it was accepted.</summary>
    private static bool Judge(string value)
    {
        bool tried = TcpEndpoint.TryParse(value, out TcpEndpoint? viaTry);
        TcpEndpoint endpoint;
        try
        {
            endpoint = TcpEndpoint.Parse(value);
        }
        catch (ArgumentException exception)
        {
            Assert.False(tried, $"TryParse accepted what Parse rejected: '{TcpEndpointParser.Quote(value)}'");
            Assert.Contains(TcpEndpointParser.Quote(value), exception.Message, StringComparison.Ordinal);
            Assert.True(exception.Message.Length < 1_000, "the message stays short whatever the input");
            Assert.DoesNotContain(exception.Message, char.IsControl);
            return false;
        }
        catch (Exception exception)
        {
            Assert.Fail($"{exception.GetType().Name} for '{TcpEndpointParser.Quote(value)}': {exception}");
            throw;
        }

        Assert.True(tried, $"Parse accepted what TryParse rejected: '{TcpEndpointParser.Quote(value)}'");
        Assert.Equal(endpoint, viaTry);
        Assert.InRange(endpoint.Port, 1, 65535);
        Assert.NotEmpty(endpoint.Host);
        Assert.DoesNotContain(endpoint.Host, c => char.IsControl(c) || char.IsWhiteSpace(c));
        TcpEndpoint again = TcpEndpoint.Parse(endpoint.ToString());
        Assert.Equal(endpoint, again);
        Assert.Equal(endpoint.Address, again.Address);
        Assert.Equal(endpoint.ToString(), again.ToString());
        return true;
    }

    /// <summary>A deterministic mix of random pieces, structured host:port forms and raw random characters.</summary>
    private static IEnumerable<string> Corpus(Random random, int count)
    {
        string[] ports = ["80", "1", "65535", "0", "65536", "+80", "-1", " 80", "0080", "", "8O", "\uff18\uff10", "80\0", "1e2"];
        string[] hosts = ["127.0.0.1", "localhost", "db.internal", "a_b.c", "b\u00fccher.example", "[::1]", "[fe80::1%lo]", "[fe80::1%25lo]",
            "[::ffff:1.2.3.4]", "[1:2:3:4:5:6:7:8]", "[::1", "::1]", "017.0.0.1", "1.2.3", "x.", "-x", new string('h', 250), new string('h', 64)];
        for (int i = 0; i < count; i++)
        {
            switch (i % 3)
            {
                case 0:
                    var builder = new StringBuilder();
                    for (int j = random.Next(1, 7); j > 0; j--)
                    {
                        builder.Append(Pieces[random.Next(Pieces.Length)]);
                    }

                    yield return builder.ToString();
                    break;
                case 1:
                    string host = hosts[random.Next(hosts.Length)];
                    if (random.Next(4) == 0)
                    {
                        host = Mutate(random, host);
                    }

                    yield return host + ":" + ports[random.Next(ports.Length)];
                    break;
                default:
                    var chars = new char[random.Next(0, 40)];
                    for (int j = 0; j < chars.Length; j++)
                    {
                        chars[j] = random.Next(4) switch
                        {
                            0 => (char)random.Next(0, 0x80),
                            1 => "0123456789.:[]%"[random.Next(15)],
                            2 => (char)random.Next(0x80, 0x10000),
                            _ => "abcxyz-_"[random.Next(8)],
                        };
                    }

                    yield return new string(chars) + (random.Next(2) == 0 ? ":" + random.Next(-10, 70_000) : string.Empty);
                    break;
            }
        }
    }

    private static string Mutate(Random random, string text)
    {
        if (text.Length == 0)
        {
            return text;
        }

        int at = random.Next(text.Length);
        string piece = Pieces[random.Next(Pieces.Length)];
        return random.Next(2) == 0 ? text.Insert(at, piece) : text.Remove(at, 1).Insert(at, piece);
    }
}
