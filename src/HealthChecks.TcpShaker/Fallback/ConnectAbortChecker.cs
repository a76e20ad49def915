using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;

namespace HealthChecks.TcpShaker.Fallback;

/// <summary>
/// The portable checker: a full connect, then an abortive close (zero linger: RST, no TIME_WAIT).
/// Used where <c>TCP_QUICKACK</c> does not exist (macOS, Windows, FreeBSD), when half-open checking
/// failed its start-up verification, or when <see cref="TcpShakerOptions.ForceFullConnect"/> asks.
/// Never <c>Shutdown</c>: that would send FIN and leave TIME_WAIT behind.
/// </summary>
internal sealed class ConnectAbortChecker : ICheckEngine
{
    private static readonly TimeSpan TimerGranularity = TimeSpan.FromMilliseconds(1);

    private readonly CheckLimiter _limiter;
    private readonly TcpShakerMetrics _metrics;
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running = 1; // one for the engine itself, released at dispose

    internal ConnectAbortChecker(TcpShakerOptions options, TcpShakerMetrics metrics)
    {
        _limiter = new CheckLimiter(options.MaxChecksInFlight);
        _metrics = metrics;
    }

    public TcpShakerMode Mode => TcpShakerMode.FullConnect;

    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _metrics.CheckStarted();
        if (!_limiter.TryAcquire())
        {
            _metrics.CheckCompleted(TcpCheckStatus.LocalError, TcpShakerMode.FullConnect, TimeSpan.Zero, endPoint);
            return new ValueTask<TcpCheckResult>(new TcpCheckResult(TcpCheckStatus.LocalError, TimeSpan.Zero, endPoint, TcpCheckDescriptions.TooManyInFlight));
        }

        Interlocked.Increment(ref _running);
        return CheckCoreAsync(endPoint, timeout, cancellationToken);
    }

    private async ValueTask<TcpCheckResult> CheckCoreAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        bool completed = false;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
            // .NET timers tick on a millisecond clock and can fire a fraction of a millisecond before
            // the Stopwatch says the timeout passed; a timeout must never be declared early.
            linked.CancelAfter(timeout + TimerGranularity);
            (TcpCheckStatus status, int errno) = await ConnectAndAbortAsync(endPoint, linked.Token, cancellationToken).ConfigureAwait(false);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
            _metrics.CheckCompleted(status, TcpShakerMode.FullConnect, elapsed, endPoint);
            completed = true;
            return new TcpCheckResult(status, elapsed, endPoint, errno);
        }
        finally
        {
            if (!completed)
            {
                _metrics.CheckEnded();
            }

            _limiter.Release();
            if (Interlocked.Decrement(ref _running) == 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    private async ValueTask<(TcpCheckStatus Status, int Errno)> ConnectAndAbortAsync(IPEndPoint endPoint, CancellationToken attempt, CancellationToken caller)
    {
        Socket socket;
        try
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException exception)
        {
            return (TcpCheckStatus.LocalError, exception.NativeErrorCode);
        }

        using (socket)
        {
            socket.LingerState = new LingerOption(true, 0);
            try
            {
                await socket.ConnectAsync(endPoint, attempt).ConfigureAwait(false);
                return (TcpCheckStatus.Open, 0);
            }
            catch (OperationCanceledException) when (!caller.IsCancellationRequested && !_disposing.IsCancellationRequested)
            {
                return (TcpCheckStatus.Timeout, Interop.Errno.ETIMEDOUT);
            }
            catch (OperationCanceledException) when (_disposing.IsCancellationRequested && !caller.IsCancellationRequested)
            {
                throw new OperationCanceledException("The TcpShaker engine was stopped before the check completed.");
            }
            catch (SocketException exception)
            {
                return (Classify(exception.SocketErrorCode), exception.NativeErrorCode);
            }
        }
    }

    private static TcpCheckStatus Classify(SocketError error) => error switch
    {
        SocketError.ConnectionRefused or SocketError.ConnectionReset => TcpCheckStatus.Refused,
        SocketError.TimedOut => TcpCheckStatus.Timeout,
        SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.NetworkDown
            or SocketError.HostDown or SocketError.AccessDenied => TcpCheckStatus.Unreachable,
        _ => TcpCheckStatus.LocalError,
    };

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
