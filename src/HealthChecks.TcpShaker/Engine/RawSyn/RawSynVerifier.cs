using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// Proves at start that raw SYN checking holds here: a check of a private loopback listener that never
/// accepts must find it open (the reply reached the raw socket: no INPUT rule hides it, the filter and
/// the matching work), leave its accept queue empty, and leave no half-open connection behind on the
/// listener (the kernel's RST reached it: no firewall drops outgoing RSTs; if one did, the listener
/// would keep resending its SYN-ACK and a real server would be left with a connection in SYN-RECV).
/// </summary>
internal static class RawSynVerifier
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RstWait = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs the proof. The listener and the kernel's connection table are taken in the calling thread's
    /// network namespace before the first wait, so call it from the thread that made the engine.
    /// </summary>
    internal static async Task<(bool Holds, string Reason)> VerifyAsync(ICheckEngine engine, CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        FileStream? connections = null;
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(8);
            connections = new FileStream("/proc/thread-self/net/tcp", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        }
        catch (Exception exception) when (exception is SocketException or IOException or UnauthorizedAccessException)
        {
            connections?.Dispose();
            return (false, $"the raw verification could not set up its loopback listener ({exception.Message})");
        }

        using (connections)
        {
            var target = (IPEndPoint)listener.LocalEndPoint!;
            TcpCheckResult result = await engine.CheckAsync(target, CheckTimeout, cancellationToken).ConfigureAwait(false);
            if (result.Status != TcpCheckStatus.Open)
            {
                return (false, $"a raw SYN to a loopback listener answered {result.Status} (errno {result.ErrorCode}): replies do not reach the raw socket (a firewall INPUT rule?)");
            }

            string hexPort = target.Port.ToString("X4", CultureInfo.InvariantCulture);
            long until = Environment.TickCount64 + (long)RstWait.TotalMilliseconds;
            while (HasHalfOpenConnection(connections, hexPort))
            {
                if (Environment.TickCount64 > until)
                {
                    return (false, "the kernel's RST did not reach the loopback listener, which kept a half-open connection: a firewall drops outgoing RSTs");
                }

                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }

            if (listener.Poll(0, SelectMode.SelectRead))
            {
                return (false, "a raw check completed the handshake: the loopback listener had a connection to accept");
            }

            return (true, "the loopback listener was found open, with its accept queue empty and no half-open connection left");
        }
    }

    /// <summary>Whether the kernel's table lists a connection in SYN-RECV (state 03) on local port <paramref name="hexPort"/>.</summary>
    private static bool HasHalfOpenConnection(FileStream table, string hexPort)
    {
        table.Seek(0, SeekOrigin.Begin);
        using var reader = new StreamReader(table, Encoding.ASCII, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
        while (reader.ReadLine() is { } line)
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 3 && words[1].EndsWith(":" + hexPort, StringComparison.Ordinal) && words[3] == "03")
            {
                return true;
            }
        }

        return false;
    }
}
