namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>
/// The loop a check runs in (the half-open <see cref="EpollLoop"/> or the raw SYN loop): what a
/// <see cref="CheckOperation"/> (its cancellation), the loop's <see cref="LoopInbox"/> and its
/// <see cref="LoopWatches"/> (starting a check, ending one in flight) need from it.
/// </summary>
internal interface ICheckLoop
{
    /// <summary>Where the loop hands results to callers (loop thread).</summary>
    CompletionQueue Completions { get; }

    /// <summary>Asks the loop to cancel <paramref name="operation"/> if it still runs <paramref name="version"/>. Any thread.</summary>
    void RequestCancellation(CheckOperation operation, short version);

    /// <summary>Starts a check whose place the accounting has already taken; it ends through the accounting. Loop thread.</summary>
    void Start(LoopCheck check);

    /// <summary>Ends the check held in <paramref name="slot"/> without a result, giving back what it holds (socket, source port). Loop thread.</summary>
    void AbandonInFlight(int slot);
}
