using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;

namespace HealthChecks.TcpShaker.Engine.FullConnect;

/// <summary>
/// The full-connect engine, portable: a full connect, then an abortive close (zero linger: RST, no
/// TIME_WAIT). Used where <c>TCP_QUICKACK</c> does not exist (macOS, Windows, FreeBSD), when
/// half-open checking failed its start-up verification, or when <see cref="TcpShakerOptions.ForceFullConnect"/>
/// asks. Never <c>Shutdown</c>: that would send FIN and leave TIME_WAIT behind.
/// </summary>
internal sealed class FullConnectEngine : ICheckEngine
{
    private static readonly TimeSpan TimerGranularity = TimeSpan.FromMilliseconds(1);

    private readonly CheckAccounting _accounting;
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running = 1; // one for the engine itself, released at dispose

    internal FullConnectEngine(TcpShakerOptions options, TcpShakerMetrics metrics) =>
        _accounting = new CheckAccounting(options.MaxChecksInFlight, TcpShakerMode.FullConnect, metrics);

    public TcpShakerMode Mode => TcpShakerMode.FullConnect;

    public Task<Exception?> FirstFault { get; } = Task.FromResult<Exception?>(null);

    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_accounting.TryBegin(endPoint, out TcpCheckResult refused))
        {
            return new ValueTask<TcpCheckResult>(refused);
        }

        Interlocked.Increment(ref _running);
        return CheckCoreAsync(endPoint, timeout, cancellationToken);
    }

    private async ValueTask<TcpCheckResult> CheckCoreAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        bool ended = false;
        try
        {
            TcpCheckResult result = await ConnectAndAbortAsync(endPoint, timeout, cancellationToken).ConfigureAwait(false);
            ended = true;
            _accounting.Complete(result);
            return result;
        }
        finally
        {
            if (!ended)
            {
                _accounting.Abandon();
            }

            if (Interlocked.Decrement(ref _running) == 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    private async ValueTask<TcpCheckResult> ConnectAndAbortAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken caller)
    {
        long started = Stopwatch.GetTimestamp();
        Socket socket;
        try
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException exception)
        {
            return CheckErrors.FromSocketException(endPoint, Stopwatch.GetElapsedTime(started), exception);
        }

        using (socket)
        using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(caller, _disposing.Token))
        {
            socket.LingerState = new LingerOption(true, 0);

            // .NET timers tick on a millisecond clock and can fire a fraction of a millisecond before
            // the Stopwatch says the timeout passed; a timeout must never be declared early.
            attempt.CancelAfter(timeout + TimerGranularity);
            try
            {
                await socket.ConnectAsync(endPoint, attempt.Token).ConfigureAwait(false);
                return new TcpCheckResult(TcpCheckStatus.Open, Stopwatch.GetElapsedTime(started), endPoint, 0);
            }
            catch (OperationCanceledException) when (!caller.IsCancellationRequested && !_disposing.IsCancellationRequested)
            {
                return CheckErrors.DeadlineReached(endPoint, Stopwatch.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (_disposing.IsCancellationRequested && !caller.IsCancellationRequested)
            {
                throw new OperationCanceledException("The TcpShaker engine was stopped before the check completed.");
            }
            catch (SocketException exception)
            {
                return CheckErrors.FromSocketException(endPoint, Stopwatch.GetElapsedTime(started), exception);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposing.CancelAsync().ConfigureAwait(false);
        if (Interlocked.Decrement(ref _running) == 0)
        {
            _drained.TrySetResult();
        }

        await _drained.Task.ConfigureAwait(false);
        _disposing.Dispose();
    }
}
