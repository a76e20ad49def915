using HealthChecks.TcpShaker.Tool.Prober;
using Microsoft.Extensions.Primitives;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>The probe's timeout, computed as the blackbox exporter's getTimeout does (scrape timeout header less 0.5 s, or the module's when shorter).</summary>
public sealed class ProbeTimeoutTests
{
    [Theory]
    [InlineData("10", null, 9_500)] // the scrape's timeout less the offset
    [InlineData("10", 3_000, 3_000)] // the module's, shorter
    [InlineData("2", 5_000, 1_500)] // the scrape's, shorter
    [InlineData("0.4", 5_000, 5_000)] // less than the offset: the module's, as in the exporter
    [InlineData("0.4", null, 1)] // nothing left: the shortest timeout, so the probe ends at once
    [InlineData(null, null, 119_500)] // no header: 120 s less the offset
    [InlineData("", 700, 700)]
    public void Timeout_follows_the_scrape_timeout_header_as_the_blackbox_exporter_does(string? header, int? moduleMilliseconds, int expectedMilliseconds)
    {
        ProberModule module = ProberModule.Default with { Timeout = moduleMilliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null };

        Assert.True(ProbeEndpoint.TryGetTimeout(header is null ? StringValues.Empty : new StringValues(header), module, out TimeSpan timeout, out string? error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), timeout);
    }

    [Fact]
    public void A_header_that_is_not_a_number_is_an_error_naming_it()
    {
        Assert.False(ProbeEndpoint.TryGetTimeout(new StringValues("ten"), ProberModule.Default, out _, out string? error));
        Assert.Equal("strconv.ParseFloat: parsing \"ten\": invalid syntax", error);
    }
}
