using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using HealthChecks.TcpShaker.Tool.Commands;

namespace HealthChecks.TcpShaker.Tool;

/// <summary>
/// The tool's entry point, callable in-process: arguments and writers in, exit code out.
/// Exit codes: 0 all open, 1 something not open, 2 bad usage, 130 interrupted.
/// </summary>
internal static class Cli
{
    /// <summary>
    /// The command tree. A plain <see cref="Command"/> named <c>tcp-shaker</c> rather than a <see cref="RootCommand"/>,
    /// whose name would be the host's executable (<c>dotnet</c> or a test runner) when run in-process.
    /// </summary>
    internal static Command CreateRootCommand(ToolConsole console) =>
        new("tcp-shaker", "tcp-shaker: half-open TCP checks (SYN, SYN-ACK, RST) from the command line. The mode (HalfOpen, FullConnect, or RawSyn with --raw) is in every command's output.")
        {
            new HelpOption(),
            new VersionOption(),
            CheckCommand.Create(console),
            BenchCommand.Create(console),
            WatchCommand.Create(console),
            ServeCommand.Create(console),
        };

    /// <summary>Parses and runs a command line.</summary>
    /// <param name="args">The arguments, without the program name.</param>
    /// <param name="console">Where to write.</param>
    /// <param name="handleSignals">Turn Ctrl+C and SIGTERM into cancellation (the real process); tests pass false and cancel through <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">Stops a running command as Ctrl+C would.</param>
    internal static async Task<int> RunAsync(string[] args, ToolConsole console, bool handleSignals = false, CancellationToken cancellationToken = default)
    {
        Command root = CreateRootCommand(console);
        ParseResult parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            string command = parse.CommandResult.Command == root ? string.Empty : parse.CommandResult.Command.Name + " ";
            if (Misspelled(root, parse) is [_, ..] misspelled)
            {
                // Only these: a mistyped option's value would otherwise be reported as a bad target too.
                foreach (string line in misspelled)
                {
                    await console.Error.WriteLineAsync($"tcp-shaker: {line}");
                }

                await console.Error.WriteLineAsync($"Run 'tcp-shaker {command}--help' for usage.");
                return ExitCodes.Usage;
            }

            foreach (System.CommandLine.Parsing.ParseError error in parse.Errors)
            {
                await console.Error.WriteLineAsync($"tcp-shaker: {error.Message}");
            }

            await console.Error.WriteLineAsync($"Run 'tcp-shaker {command}--help' for usage.");
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            ProcessTerminationTimeout = handleSignals ? TimeSpan.FromSeconds(5) : null,
        };
        return await parse.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>
    /// Unknown options and commands, each as a sentence with the nearest known name when one is close:
    /// an unknown option on a command with targets is otherwise taken for a target (and its value too),
    /// and an unknown command is otherwise three errors. Empty when the command line has neither.
    /// </summary>
    private static List<string> Misspelled(Command root, ParseResult parse)
    {
        var sentences = new List<string>();
        Command command = parse.CommandResult.Command;
        IEnumerable<string> loose = parse.UnmatchedTokens
            .Concat(parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(argument => argument.Tokens).Select(token => token.Value));
        foreach (string token in loose)
        {
            if (token.Length > 1 && token[0] == '-')
            {
                IEnumerable<string> known = command.Options.Concat(root.Options.Where(option => option.Recursive))
                    .SelectMany(option => option.Aliases.Prepend(option.Name));
                sentences.Add($"unknown option '{token}'{DidYouMean(token, known)}");
            }
        }

        if (sentences.Count == 0 && command == root && parse.UnmatchedTokens is [string first, ..] && first[0] != '-')
        {
            sentences.Add($"unknown command '{first}'{DidYouMean(first, root.Subcommands.Select(subcommand => subcommand.Name))}");
        }

        return sentences;
    }

    /// <summary>". Did you mean 'x'?" for the known name nearest to <paramref name="typed"/> when it is close (a third of its letters or fewer differ), else ".".</summary>
    private static string DidYouMean(string typed, IEnumerable<string> known)
    {
        (string Name, int Distance) nearest = known.Distinct(StringComparer.Ordinal)
            .Select(name => (Name: name, Distance: EditDistance(typed, name)))
            .OrderBy(candidate => candidate.Distance).ThenBy(candidate => candidate.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        return nearest.Name is not null && nearest.Distance <= Math.Max(1, typed.TrimStart('-').Length / 3)
            ? $". Did you mean '{nearest.Name}'?"
            : ".";
    }

    /// <summary>Levenshtein distance, with a swap of two neighbouring letters counted as one edit.</summary>
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
