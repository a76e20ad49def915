namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>
/// What <see cref="LoopWatches"/> needs from the loop it runs in (the half-open <see cref="EpollLoop"/> or
/// the raw SYN loop): a way to start a watch's check, and a way to end one it holds in flight.
/// </summary>
internal interface IWatchLoop
{
    /// <summary>Starts a check whose place the accounting has already taken; it ends through the accounting. Loop thread.</summary>
    void StartWatchCheck(LoopCheck check);

    /// <summary>Ends the check held in <paramref name="slot"/> without a result, giving back what it holds (socket, source port). Loop thread.</summary>
    void AbandonInFlight(int slot);
}
