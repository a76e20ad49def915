using System.Text.RegularExpressions;

namespace HealthChecks.TcpShaker.Tool.Tests.Support;

/// <summary><c>tcp-shaker serve</c> run in-process on a free loopback port, until disposed (which cancels it as Ctrl+C would).</summary>
public sealed partial class RunningProber : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _stop = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();

    // TextWriter.Synchronized locks the wrapper itself ([MethodImpl(Synchronized)]): reads lock it too.
    private readonly TextWriter _syncOut;
    private readonly TextWriter _syncError;
    private Task<int>? _run;

    private RunningProber()
    {
        _syncOut = TextWriter.Synchronized(_out);
        _syncError = TextWriter.Synchronized(_error);
    }

    /// <summary>Where it listens (<c>http://127.0.0.1:PORT</c>).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>What it wrote to standard error so far.</summary>
    public string Error
    {
        get
        {
            lock (_syncError)
            {
                return _error.ToString();
            }
        }
    }

    /// <summary>Starts <c>serve --listen 127.0.0.1:0</c> plus <paramref name="args"/> and waits until it listens.</summary>
    public static async Task<RunningProber> StartAsync(params string[] args)
    {
        var prober = new RunningProber();
        var console = new ToolConsole(prober._syncOut, prober._syncError, isTerminal: false);
        prober._run = Task.Run(() => Cli.RunAsync(["serve", "--listen", "127.0.0.1:0", .. args], console, handleSignals: false, prober._stop.Token));
        using var limit = new CancellationTokenSource(StartLimit);
        while (true)
        {
            string written;
            lock (prober._syncOut)
            {
                written = prober._out.ToString();
            }

            if (Listening().Match(written) is { Success: true } match)
            {
                prober.BaseAddress = new Uri(match.Groups[1].Value);
                return prober;
            }

            if (prober._run.IsCompleted)
            {
                throw new InvalidOperationException($"serve ended with {await prober._run} before listening:\n{prober.Error}");
            }

            await Task.Delay(20, limit.Token);
        }
    }

    /// <summary>Stops it and returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop.CancelAsync();
        return await _run!.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        if (_run is { IsCompleted: false })
        {
            await StopAsync();
        }

        _stop.Dispose();
        _out.Dispose();
        _error.Dispose();
    }

    [GeneratedRegex(@"listening on (http://\S+?);")]
    private static partial Regex Listening();
}
