using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Aspire.Tests;

/// <summary>Free loopback ports, and whether one is listening, read from /proc/net/tcp{,6} so nothing connects to it.</summary>
internal static class LoopbackPorts
{
    private const string ListenState = "0A";

    /// <summary>Distinct ports the kernel had free a moment ago (bound to port 0 together, then released).</summary>
    public static int[] Free(int count)
    {
        var sockets = new Socket[count];
        try
        {
            for (int i = 0; i < count; i++)
            {
                sockets[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets[i].Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }

            return [.. sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port)];
        }
        finally
        {
            foreach (Socket? socket in sockets)
            {
                socket?.Dispose();
            }
        }
    }

    /// <summary>Whether a socket listens on <paramref name="port"/> (any address, IPv4 or IPv6).</summary>
    public static bool IsListening(int port)
    {
        string hex = port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (string table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            // "  sl  local_address rem_address   st ...": local_address is ADDR:PORT in hex, st the state.
            foreach (string line in File.ReadLines(table).Skip(1))
            {
                string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] == ListenState && fields[1].EndsWith(":" + hex, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>When <paramref name="port"/> started listening, polled every 20 ms for at most <paramref name="within"/>.</summary>
    public static async Task<DateTimeOffset> WhenListeningAsync(int port, TimeSpan within, CancellationToken cancellationToken)
    {
        DateTimeOffset deadline = DateTimeOffset.UtcNow + within;
        while (DateTimeOffset.UtcNow < deadline)
        {
            if (IsListening(port))
            {
                return DateTimeOffset.UtcNow;
            }

            await Task.Delay(20, cancellationToken);
        }

        throw new TimeoutException($"nothing listened on port {port} within {within}");
    }
}
