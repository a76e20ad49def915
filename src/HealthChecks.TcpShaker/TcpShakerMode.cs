namespace HealthChecks.TcpShaker;

/// <summary>How a <see cref="TcpShaker"/> probes a port.</summary>
public enum TcpShakerMode
{
    /// <summary>
    /// SYN, SYN-ACK, RST: the handshake is never completed, so the server's application never
    /// accepts (or logs) the check. Linux only.
    /// </summary>
    HalfOpen,

    /// <summary>
    /// Connect, then abort with RST (zero linger): the server completes the handshake and may see a
    /// connection, but no TIME_WAIT is left behind. Used where half-open checking is unavailable.
    /// </summary>
    FullConnect,
}
