using Spectre.Console;

namespace HealthChecks.TcpShaker.Tool;

/// <summary>
/// Where the tool writes, and whether standard output is a terminal (live progress bar and table,
/// colours) or redirected (plain lines only). Tests pass <see cref="StringWriter"/>s.
/// </summary>
internal sealed class ToolConsole
{
    private readonly int? _width;
    private IAnsiConsole? _ansi;

    internal ToolConsole(TextWriter output, TextWriter error, bool isTerminal, int? width = null)
    {
        Out = output;
        Error = error;
        IsTerminal = isTerminal;
        _width = width;
    }

    internal TextWriter Out { get; }

    internal TextWriter Error { get; }

    /// <summary>Standard output is an interactive terminal: draw live displays and colours.</summary>
    internal bool IsTerminal { get; }

    /// <summary>Spectre.Console over <see cref="Out"/>; created on first use so a plain check never loads it.</summary>
    internal IAnsiConsole Ansi => _ansi ??= CreateAnsi();


    private IAnsiConsole CreateAnsi()
    {
        IAnsiConsole ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (_width is { } width)
        {
            ansi.Profile.Width = width;
        }

        return ansi;
    }

    /// <summary>The process's own console.</summary>
    internal static ToolConsole FromSystemConsole() =>
        new(Console.Out, Console.Error, !Console.IsOutputRedirected && !Console.IsErrorRedirected);
}

/// <summary>The tool's exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>Every target (or check) was open.</summary>
    internal const int Open = 0;

    /// <summary>At least one target was not open.</summary>
    internal const int NotOpen = 1;

    /// <summary>Bad usage: an unknown option, a bad endpoint or duration.</summary>
    internal const int Usage = 2;

    /// <summary>Stopped by Ctrl+C or SIGTERM before it was done (128 + SIGINT).</summary>
    internal const int Interrupted = 130;
}
