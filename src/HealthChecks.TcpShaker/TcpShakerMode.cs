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

    /// <summary>
    /// A crafted SYN from a raw socket; the kernel itself answers the SYN-ACK with RST at once, so no
    /// handshake ACK can leak even when the process gets no CPU. Linux, CAP_NET_RAW, and only when
    /// <see cref="TcpShakerOptions.PreferRawSyn"/> asks for it.
    /// </summary>
    RawSyn,
}
