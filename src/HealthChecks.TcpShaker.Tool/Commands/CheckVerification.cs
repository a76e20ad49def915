using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// Verifies a one-shot <c>check</c>'s own half-open checks instead of paying for the engine's
/// start-up self-test before them. The engine's test checks a private loopback listener and then
/// waits 5 ms for a late ACK before the first real check may start; a process that makes one
/// round of checks and exits spends most of its life in that wait. Here the same private listener
/// is checked alongside the targets, and each open check's own <c>TCP_INFO</c> (read by the engine
/// before <c>close()</c> when <c>tcpshaker.loop.acks_leaked</c> is listened to) says whether the
/// kernel sent the handshake ACK. Either sign means half-open did not hold: the checks were in
/// effect connect-and-abort, and the command reports <see cref="TcpShakerMode.FullConnect"/> and says why.
/// </summary>
/// <remarks>
/// The verdicts (open, refused, ...) are right either way: a kernel that ignores <c>TCP_QUICKACK</c>
/// completes the handshake, which is what <see cref="TcpShakerMode.FullConnect"/> does on purpose.
/// What the verification protects is the claim that the targets saw no connection.
/// </remarks>
internal sealed class CheckVerification : IDisposable
{
    private const string MeterName = "HealthChecks.TcpShaker";
    private const string AcksLeakedInstrument = "tcpshaker.loop.acks_leaked";

    // The engine's own limit for its private check: generous, since loopback answers in microseconds.
    private static readonly TimeSpan PrivateCheckTimeout = TimeSpan.FromSeconds(2);

    private readonly MeterListener _meterListener = new();
    private readonly Socket? _listener;
    private readonly string? _listenerProblem;
    private long _acksLeaked;

    private CheckVerification()
    {
        _meterListener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && instrument.Name == AcksLeakedInstrument)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meterListener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _acksLeaked, value));
        _meterListener.Start();

        try
        {
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(8);
        }
        catch (SocketException exception)
        {
            _listener?.Dispose();
            _listener = null;
            _listenerProblem = $"no loopback listener could be opened ({exception.SocketErrorCode})";
        }
    }

    /// <summary>
    /// Starts listening for leaked ACKs and opens the private listener. Create it before the engine
    /// so the engine's metrics see the listener from the first check.
    /// </summary>
    internal static CheckVerification Start() => new();

    /// <summary>The private listener's check, to run at the same time as the real ones; null without a listener.</summary>
    internal Task<TcpCheckResult>? CheckPrivateListener(TcpShaker shaker, CancellationToken cancellationToken) =>
        _listener is null ? null : shaker.CheckAsync((IPEndPoint)_listener.LocalEndPoint!, PrivateCheckTimeout, cancellationToken).AsTask();

    /// <summary>
    /// After every check has finished: why half-open did not hold, or null when it held (or could
    /// not be tested, which <paramref name="unverified"/> then says).
    /// </summary>
    internal string? Problem(TcpCheckResult? privateCheck, out string? unverified)
    {
        unverified = null;
        long leaked = Interlocked.Read(ref _acksLeaked);
        if (leaked > 0)
        {
            return $"the kernel sent the handshake ACK of {leaked} check(s) before close(): those servers saw a connection (reset at once)";
        }

        if (privateCheck is { } result)
        {
            if (result.Status == TcpCheckStatus.LocalError && result.ErrorCode == QuickAckRefused)
            {
                return "the kernel refused TCP_QUICKACK";
            }

            // On loopback the ACK of a completed handshake is delivered before connect()'s socket
            // turns writable, so a leak is already in the listener's accept queue here.
            if (_listener!.Poll(0, SelectMode.SelectRead))
            {
                return "a check completed the handshake: the private loopback listener had a connection to accept";
            }

            if (result.Status != TcpCheckStatus.Open)
            {
                unverified = $"the check of a private loopback listener answered {result.Status} (errno {result.ErrorCode})";
            }
        }
        else
        {
            unverified = _listenerProblem;
        }

        return null;
    }

    /// <summary>ENOPROTOOPT: a kernel without <c>TCP_QUICKACK</c> fails every half-open check with it.</summary>
    internal const int QuickAckRefused = 92;

    public void Dispose()
    {
        _meterListener.Dispose();
        _listener?.Dispose();
    }
}
