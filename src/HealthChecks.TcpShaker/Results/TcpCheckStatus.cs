namespace HealthChecks.TcpShaker;

/// <summary>The outcome of one TCP check.</summary>
public enum TcpCheckStatus
{
    /// <summary>The server answered the SYN with SYN-ACK: something listens on the port.</summary>
    Open,

    /// <summary>The server answered with RST: nothing listens on the port.</summary>
    Refused,

    /// <summary>No answer before the deadline (a silent firewall, a dead host, or a full SYN queue).</summary>
    Timeout,

    /// <summary>The network reported the host or network unreachable (ICMP), or there is no route.</summary>
    Unreachable,

    /// <summary>The host name could not be resolved to any address.</summary>
    ResolveFailed,

    /// <summary>
    /// The check could not be attempted on this machine: no file descriptors, no ephemeral ports,
    /// no buffers, or too many checks in flight. Says nothing about the target.
    /// </summary>
    LocalError,
}
