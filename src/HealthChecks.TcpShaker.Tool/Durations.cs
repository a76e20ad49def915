using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace HealthChecks.TcpShaker.Tool;

/// <summary>
/// Durations as written on the command line: a number and a unit, <c>500ms</c>, <c>2s</c>,
/// <c>1.5s</c>, <c>1m</c>, <c>1h</c>, or several of them in a row (<c>1m30s</c>).
/// Units: <c>us</c> (microseconds), <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>. A bare number is an
/// error: "5" could mean seconds or milliseconds.
/// </summary>
internal static class Durations
{
    private const string Units = "us, ms, s, m or h";

    /// <summary>Parses a duration; the error says what is wrong, without naming the option.</summary>
    internal static bool TryParse(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "it is empty";
            return false;
        }

        if (text[0] is '-' or '+')
        {
            error = "a duration cannot have a sign";
            return false;
        }

        decimal totalTicks = 0;
        int i = 0;
        while (i < text.Length)
        {
            int numberStart = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            string number = text[numberStart..i];
            int unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }

            string unit = text[unitStart..i];
            if (number.Length == 0)
            {
                error = unitStart < text.Length && !char.IsAsciiLetter(text[unitStart])
                    ? $"'{Printable(text[unitStart])}' is not part of a duration"
                    : $"expected a number before '{unit}'";
                return false;
            }

            if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal amount) || number.Count(c => c == '.') > 1)
            {
                error = $"'{number}' is not a number";
                return false;
            }

            if (unit.Length == 0)
            {
                error = i < text.Length
                    ? $"'{Printable(text[i])}' is not part of a duration"
                    : $"'{number}' has no unit (use {Units})";
                return false;
            }

            decimal? ticksPerUnit = unit switch
            {
                "us" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => null,
            };
            if (ticksPerUnit is not { } perUnit)
            {
                error = $"unknown unit '{unit}' (use {Units})";
                return false;
            }

            if (amount > TimeSpan.MaxValue.Ticks / perUnit || totalTicks + (amount * perUnit) > TimeSpan.MaxValue.Ticks)
            {
                error = "it is too long";
                return false;
            }

            totalTicks += amount * perUnit;
        }

        value = TimeSpan.FromTicks((long)decimal.Round(totalTicks, MidpointRounding.AwayFromZero));
        error = null;
        return true;
    }

    /// <summary>Parses a duration or throws <see cref="FormatException"/> naming the text.</summary>
    internal static TimeSpan Parse(string text) =>
        TryParse(text, out TimeSpan value, out string? error)
            ? value
            : throw new FormatException($"'{text}' is not a duration: {error}.");

    /// <summary>Writes a duration the way it is parsed: <c>1s</c>, <c>500ms</c>, <c>1m30s</c>, <c>1.5ms</c>.</summary>
    internal static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        if (value < TimeSpan.Zero)
        {
            builder.Append('-');
            value = value.Duration();
        }

        if (value.Ticks % TimeSpan.TicksPerSecond != 0 && value < TimeSpan.FromSeconds(1))
        {
            builder.Append((value.Ticks / (decimal)TimeSpan.TicksPerMillisecond).ToString("0.####", CultureInfo.InvariantCulture)).Append("ms");
            return builder.ToString();
        }

        long hours = (long)value.TotalHours;
        if (hours > 0)
        {
            builder.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
        }

        if (value.Minutes > 0)
        {
            builder.Append(value.Minutes.ToString(CultureInfo.InvariantCulture)).Append('m');
        }

        decimal seconds = (value.Ticks % TimeSpan.TicksPerMinute) / (decimal)TimeSpan.TicksPerSecond;
        if (seconds > 0)
        {
            builder.Append(seconds.ToString("0.#######", CultureInfo.InvariantCulture)).Append('s');
        }

        return builder.ToString();
    }

    private static string Printable(char c) => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString();
}
