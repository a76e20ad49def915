using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// Proves once, at start, that half-open checking holds on this kernel: a check against a private
/// loopback listener that never accepts must find the port open and leave its accept queue empty.
/// A kernel that ignored <c>TCP_QUICKACK</c> would have completed the handshake, and the listener
/// would have a connection to accept.
/// </summary>
internal static class TechniqueVerifier
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The outcome: <see cref="Verdict.Holds"/>, <see cref="Verdict.Broken"/> (fall back), or <see cref="Verdict.Unknown"/> (could not test).</summary>
    internal enum Verdict
    {
        Holds,
        Broken,
        Unknown,
    }

    internal static async Task<(Verdict Verdict, string Reason)> VerifyAsync(ICheckEngine engine, CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(8);
        }
        catch (SocketException exception)
        {
            return (Verdict.Unknown, $"no loopback listener could be opened: {exception.SocketErrorCode}");
        }

        var target = (IPEndPoint)listener.LocalEndPoint!;
        TcpCheckResult result = await engine.CheckAsync(target, CheckTimeout, cancellationToken).ConfigureAwait(false);
        if (result.Status == TcpCheckStatus.LocalError && result.ErrorCode == Interop.Errno.ENOPROTOOPT)
        {
            return (Verdict.Broken, "the kernel refused TCP_QUICKACK");
        }

        if (result.Status != TcpCheckStatus.Open)
        {
            return (Verdict.Unknown, $"the check of a loopback listener answered {result.Status} (errno {result.ErrorCode})");
        }

        // Loopback delivers the RST synchronously, but give a late ACK a moment to show up.
        await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken).ConfigureAwait(false);
        if (listener.Poll(0, SelectMode.SelectRead))
        {
            return (Verdict.Broken, "a check completed the handshake: the loopback listener had a connection to accept");
        }

        return (Verdict.Holds, "the loopback listener's accept queue stayed empty");
    }
}
