using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace HealthChecks.TcpShaker.Tool;

/// <summary>The options and arguments the commands share, with parsers whose errors name the option.</summary>
internal static class CliSymbols
{
    internal const string TargetsName = "HOST:PORT";

    /// <summary>One or more targets, each parsed by <see cref="TcpEndpoint.Parse"/>.</summary>
    internal static Argument<TcpEndpoint[]> Targets(string description) => new(TargetsName)
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => result.Tokens.Select(token => ParseEndpoint(result, token.Value)).ToArray(),
    };

    /// <summary>Exactly one target.</summary>
    internal static Argument<TcpEndpoint> Target(string description) => new(TargetsName)
    {
        Description = description,
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = result => ParseEndpoint(result, result.Tokens[0].Value),
    };

    /// <summary>A duration option (<c>500ms</c>, <c>2s</c>, <c>1m</c>), more than zero and at most <paramref name="max"/>.</summary>
    internal static DefaultedOption<TimeSpan> Duration(string name, string description, TimeSpan defaultValue, TimeSpan max, string maxReason) =>
        Parsed(name, description, defaultValue, Durations.Format(defaultValue), "duration", [], text =>
            !Durations.TryParse(text, out TimeSpan value, out string? error) ? (value, $"'{text}' is not a duration: {error}. Write it as 500ms, 2s or 1m.")
            : value <= TimeSpan.Zero || value > max ? (value, $"{text} is out of range: it must be more than 0 and at most {Durations.Format(max)} ({maxReason}).")
            : (value, null));

    /// <summary>A duration option within [<paramref name="min"/>, <paramref name="max"/>], with no value unless given (help shows <paramref name="defaultText"/>).</summary>
    internal static DefaultedOption<TimeSpan?> OptionalDuration(string name, string description, string defaultText, TimeSpan min, TimeSpan max, string boundsReason) =>
        Parsed<TimeSpan?>(name, description, null, defaultText, "duration", [], text =>
            !Durations.TryParse(text, out TimeSpan value, out string? error) ? (value, $"'{text}' is not a duration: {error}. Write it as 500ms, 2s or 1m.")
            : value < min || value > max ? (value, $"{text} is out of range: it must be from {Durations.Format(min)} to {Durations.Format(max)} ({boundsReason}).")
            : (value, null));

    /// <summary>A duration option within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    internal static DefaultedOption<TimeSpan> Duration(string name, string description, TimeSpan defaultValue, TimeSpan min, TimeSpan max, string boundsReason) =>
        Parsed(name, description, defaultValue, Durations.Format(defaultValue), "duration", [], text =>
            !Durations.TryParse(text, out TimeSpan value, out string? error) ? (value, $"'{text}' is not a duration: {error}. Write it as 500ms, 2s or 1m.")
            : value < min || value > max ? (value, $"{text} is out of range: it must be from {Durations.Format(min)} to {Durations.Format(max)} ({boundsReason}).")
            : (value, null));

    /// <summary>A fraction option (<c>0.1</c>) within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    internal static DefaultedOption<double> Fraction(string name, string description, double defaultValue, double min, double max, string boundsReason) =>
        Parsed(name, description, defaultValue, defaultValue.ToString(CultureInfo.InvariantCulture), "fraction", [], text =>
            !double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) ? (value, $"'{text}' is not a fraction: write it as 0.1.")
            : value < min || value > max ? (value, $"{text} is out of range: expected {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)} ({boundsReason}).")
            : (value, null));

    /// <summary>The check timeout, bounded by <see cref="TcpShaker.MaxTimeout"/>.</summary>
    internal static DefaultedOption<TimeSpan> Timeout(string description) =>
        Duration("--timeout", description, TimeSpan.FromSeconds(1), TcpShaker.MaxTimeout, "TcpShaker.MaxTimeout: a probe must not hang");

    /// <summary>An integer option within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    internal static DefaultedOption<int> Integer(string name, string description, int defaultValue, int min, int max, params string[] aliases) =>
        Parsed(name, description, defaultValue, defaultValue.ToString(CultureInfo.InvariantCulture), "N", aliases, text =>
            !int.TryParse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out int value) ? (value, $"'{text}' is not a whole number.")
            : value < min || value > max ? (value, $"{value.ToString(CultureInfo.InvariantCulture)} is out of range: expected {min.ToString("N0", CultureInfo.InvariantCulture)} to {max.ToString("N0", CultureInfo.InvariantCulture)}.")
            : (value, null));

    /// <summary>
    /// An option whose one value <paramref name="parse"/> turns into a value or an error; the error is
    /// reported as "<c>--name: error</c>" and makes the command line bad usage (exit code 2).
    /// </summary>
    private static DefaultedOption<T> Parsed<T>(string name, string description, T defaultValue, string defaultText, string helpName, string[] aliases, Func<string, (T Value, string? Error)> parse) =>
        new(name, defaultValue, aliases)
        {
            Description = $"{description} [default: {defaultText}]",
            HelpName = helpName,
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0)
                {
                    return defaultValue;
                }

                (T value, string? error) = parse(result.Tokens[0].Value);
                if (error is not null)
                {
                    result.AddError($"{name}: {error}");
                    return defaultValue;
                }

                return value;
            },
        };

    /// <summary>A switch.</summary>
    internal static Option<bool> Flag(string name, string description, params string[] aliases) => new(name, aliases)
    {
        Description = description,
    };

    internal static Option<bool> FullConnect() => Flag(
        "--full-connect",
        "Complete the handshake and abort with RST instead of checking half-open; the server sees a connection.");

    internal static Option<bool> Raw() => Flag(
        "--raw",
        "Check with raw SYNs (raw SYN mode): the kernel answers each SYN-ACK with RST itself, so no server sees a connection even on a starved machine. Needs CAP_NET_RAW (root, or setcap cap_net_raw+ep on the tool); without it the tool says so and checks half-open.");

    internal static Option<bool> AllAddresses() => Flag(
        "--all-addresses",
        "A host name is open only when every address it resolves to is open (default: any open address is enough).");

    private static TcpEndpoint ParseEndpoint(ArgumentResult result, string text)
    {
        try
        {
            return TcpEndpoint.Parse(text);
        }
        catch (ArgumentException exception)
        {
            result.AddError($"{TargetsName}: {WithoutParameterName(exception)}");
            return null!;
        }
    }

    /// <summary>An <see cref="ArgumentException"/>'s message without the " (Parameter 'value')" suffix, which means nothing on a command line.</summary>
    internal static string WithoutParameterName(ArgumentException exception)
    {
        string message = exception.Message;
        string suffix = $" (Parameter '{exception.ParamName}')";
        return exception.ParamName is not null && message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
    }
}

/// <summary>
/// An option with a default that help shows as written on the command line (<c>1s</c>, not
/// <c>00:00:01</c>): the default is kept here rather than in <see cref="Option{T}.DefaultValueFactory"/>.
/// </summary>
internal sealed class DefaultedOption<T> : Option<T>
{
    internal DefaultedOption(string name, T defaultValue, params string[] aliases)
        : base(name, aliases)
    {
        Default = defaultValue;
    }

    internal T Default { get; }

    /// <summary>The value given on the command line, else <see cref="Default"/>.</summary>
    internal T ValueIn(ParseResult parse) => parse.GetResult(this) is null ? Default : parse.GetValue(this)!;
}
