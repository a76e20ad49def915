namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// A loop could not be set up because a system call failed (EMFILE when the fd table is full, ENOMEM).
/// A local condition like a check's own EMFILE: the check answers <see cref="TcpCheckStatus.LocalError"/>
/// and the next check tries to start the engine again.
/// </summary>
internal sealed class EngineStartException(string call, int errno)
    : InvalidOperationException($"The TcpShaker engine could not start: {call} failed with errno {errno}.")
{
    internal int Errno { get; } = errno;
}
