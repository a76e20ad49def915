using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>
/// A real listening socket on loopback that never calls accept(): after half-open checks its
/// accept queue must still be empty, after full connects it is not.
/// </summary>
public sealed class LoopbackListener : IDisposable
{
    private readonly Socket _socket;

    public LoopbackListener(IPAddress? address = null, int backlog = 4096, int port = 0)
    {
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.DualMode = false;
        }

        _socket.Bind(new IPEndPoint(address, port));
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
/// already full (one completed connection held), so the kernel drops every further SYN. The
/// constructor throws when the queue does not fill: a test must not go on against a target that
/// may answer.
/// </summary>
public sealed class SilentTarget : IDisposable
{
    /// <summary>How long the kernel gets to queue the filler; on loopback it is there within microseconds, so 5 s is a stall, not load.</summary>
    private static readonly TimeSpan FillWithin = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly Socket _filler;

    public SilentTarget()
        : this(fill: true)
    {
    }

    /// <summary>For the fixture's own test only: <paramref name="fill"/> false leaves the queue empty, so the constructor must throw.</summary>
    internal SilentTarget(bool fill)
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (fill)
        {
            _filler.Connect(EndPoint);
        }

        // The queue is full once the filler's connection is waiting to be accepted.
        if (!_listener.Poll(FillWithin, SelectMode.SelectRead))
        {
            Dispose();
            throw new InvalidOperationException($"SilentTarget {EndPoint}: the accept queue did not fill within {FillWithin.TotalSeconds:0} s, so SYNs may be answered; refusing to go on.");
        }
    }

    public IPEndPoint EndPoint { get; }

    public void Dispose()
    {
        _filler.Dispose();
        _listener.Dispose();
    }
}
