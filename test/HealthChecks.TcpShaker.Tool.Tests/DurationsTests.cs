namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("500ms", 500 * TimeSpan.TicksPerMillisecond)]
    [InlineData("2s", 2 * TimeSpan.TicksPerSecond)]
    [InlineData("1m", TimeSpan.TicksPerMinute)]
    [InlineData("1h", TimeSpan.TicksPerHour)]
    [InlineData("1.5s", 1500 * TimeSpan.TicksPerMillisecond)]
    [InlineData("0.25ms", 250 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("750us", 750 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("1m30s", 90 * TimeSpan.TicksPerSecond)]
    [InlineData("1h2m3s4ms", TimeSpan.TicksPerHour + (2 * TimeSpan.TicksPerMinute) + (3 * TimeSpan.TicksPerSecond) + (4 * TimeSpan.TicksPerMillisecond))]
    [InlineData("0s", 0)]
    [InlineData("10m", 10 * TimeSpan.TicksPerMinute)]
    public void Parses_numbers_with_units(string text, long ticks)
    {
        Assert.True(Durations.TryParse(text, out TimeSpan value, out string? error), error);
        Assert.Equal(TimeSpan.FromTicks(ticks), value);
        Assert.Equal(TimeSpan.FromTicks(ticks), Durations.Parse(text));
    }

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("  ", "it is empty")]
    [InlineData("5", "'5' has no unit (use us, ms, s, m or h)")]
    [InlineData("1s5", "'5' has no unit")]
    [InlineData("5x", "unknown unit 'x'")]
    [InlineData("5sec", "unknown unit 'sec'")]
    [InlineData("5S", "unknown unit 'S'")]
    [InlineData("ms", "expected a number before 'ms'")]
    [InlineData("-1s", "a duration cannot have a sign")]
    [InlineData("+1s", "a duration cannot have a sign")]
    [InlineData("1.2.3s", "'1.2.3' is not a number")]
    [InlineData("5 s", "' ' is not part of a duration")]
    [InlineData("1s,2s", "',' is not part of a duration")]
    [InlineData("99999999999999h", "it is too long")]
    public void Rejects_bad_text_saying_why(string text, string expected)
    {
        Assert.False(Durations.TryParse(text, out _, out string? error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
        FormatException exception = Assert.Throws<FormatException>(() => Durations.Parse(text));
        Assert.Contains($"'{text}' is not a duration", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500ms")]
    [InlineData("1s")]
    [InlineData("1.5s")]
    [InlineData("1m")]
    [InlineData("1m30s")]
    [InlineData("10m")]
    [InlineData("2h")]
    [InlineData("0.25ms")]
    public void Formats_the_way_it_parses(string text)
    {
        Assert.Equal(text, Durations.Format(Durations.Parse(text)));
    }

    [Fact]
    public void Formats_zero_and_odd_values()
    {
        Assert.Equal("0s", Durations.Format(TimeSpan.Zero));
        Assert.Equal("1h1m1.5s", Durations.Format(new TimeSpan(0, 1, 1, 1, 500)));
        Assert.Equal("25h", Durations.Format(TimeSpan.FromHours(25)));
    }
}
