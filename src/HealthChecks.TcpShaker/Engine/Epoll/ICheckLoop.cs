namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>
/// What a <see cref="CheckOperation"/> needs from the loop it was queued to: a way to ask for its
/// cancellation. Implemented by the half-open <see cref="EpollLoop"/> and the raw SYN loop.
/// </summary>
internal interface ICheckLoop
{
    /// <summary>Asks the loop to cancel <paramref name="operation"/> if it still runs <paramref name="version"/>. Any thread.</summary>
    void RequestCancellation(CheckOperation operation, short version);
}
