using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>
/// The scale row's targets: listeners on the wildcard address (listeners.c binds 127.0.0.1 only), so each serves
/// its port on every loopback address, in a process of their own (this binary with <c>--listen-any</c>): 100,000
/// targets on 10,000 addresses are 10 listening sockets.
/// </summary>
internal static class WildcardListeners
{
    /// <summary>Starts the listeners' process and waits until they listen.</summary>
    internal static Process Start(int basePort, int count)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(WildcardListeners).Assembly.Location);
        }

        foreach (string argument in new[] { "--listen-any", basePort.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start)!;
        string? line = process.StandardOutput.ReadLine();
        if (line is null || !line.StartsWith("ready", StringComparison.Ordinal))
        {
            string error = process.StandardError.ReadToEnd();
            process.Kill();
            throw new InvalidOperationException($"the wildcard listeners did not start: {line} {error}");
        }

        return process;
    }

    /// <summary>The child: listens on <c>0.0.0.0:basePort..</c>, never accepts, until killed.</summary>
    internal static void Serve(int basePort, int count)
    {
        var sockets = new Socket[count];
        for (int i = 0; i < count; i++)
        {
            sockets[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            sockets[i].SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            sockets[i].Bind(new IPEndPoint(IPAddress.Any, basePort + i));
            sockets[i].Listen(1024);
        }

        Console.WriteLine($"ready {count}");
        Thread.Sleep(Timeout.Infinite);
        GC.KeepAlive(sockets);
    }
}
