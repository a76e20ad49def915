using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Tests.Support;

/// <summary>
/// A real listening socket on loopback that never calls accept(): after half-open checks its
/// accept queue must still be empty, after full connects it is not.
/// </summary>
public sealed class LoopbackListener : IDisposable
{
    private readonly Socket _socket;

    public LoopbackListener(IPAddress? address = null, int backlog = 4096)
    {
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.DualMode = false;
        }

        _socket.Bind(new IPEndPoint(address, 0));
        _socket.Listen(backlog);
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    public Socket Socket => _socket;

    /// <summary>Accepts everything waiting in the accept queue without blocking, and closes it; returns how many there were.</summary>
    public int DrainAcceptQueue()
    {
        _socket.Blocking = false;
        int count = 0;
        while (true)
        {
            try
            {
                using Socket accepted = _socket.Accept();
                count++;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                return count;
            }
        }
    }

    /// <summary>Whether the accept queue holds a connection (without taking it).</summary>
    public bool HasPendingConnection => _socket.Poll(0, SelectMode.SelectRead);

    public void Dispose() => _socket.Dispose();
}

/// <summary>A port nothing listens on: bound (so nobody else takes it) but not listening, so SYNs get RST.</summary>
public sealed class ClosedPort : IDisposable
{
    private readonly Socket _socket;

    public ClosedPort(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _socket.Bind(new IPEndPoint(address, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    public void Dispose() => _socket.Dispose();
}

/// <summary>
/// A target that never answers, without root: a listener with backlog 0 whose accept queue is
/// already full (one completed connection held), so the kernel drops every further SYN.
/// </summary>
public sealed class SilentTarget : IDisposable
{
    private readonly Socket _listener;
    private readonly Socket _filler;

    public SilentTarget()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _filler.Connect(EndPoint);
        // Wait until the kernel has queued the filler, so the queue is really full.
        for (int i = 0; i < 100 && !_listener.Poll(10_000, SelectMode.SelectRead); i++)
        {
        }
    }

    public IPEndPoint EndPoint { get; }

    public void Dispose()
    {
        _filler.Dispose();
        _listener.Dispose();
    }
}
