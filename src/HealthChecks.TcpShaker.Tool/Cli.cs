using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
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
        new("tcp-shaker", "tcp-shaker: half-open TCP checks (SYN, SYN-ACK, RST) from the command line. The mode (HalfOpen or FullConnect) is in every command's output.")
        {
            new HelpOption(),
            new VersionOption(),
            CheckCommand.Create(console),
            BenchCommand.Create(console),
            WatchCommand.Create(console),
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
            foreach (System.CommandLine.Parsing.ParseError error in parse.Errors)
            {
                await console.Error.WriteLineAsync($"tcp-shaker: {error.Message}");
            }

            string command = parse.CommandResult.Command == root ? string.Empty : parse.CommandResult.Command.Name + " ";
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
}
