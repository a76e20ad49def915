namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// How checks go on the wire and how their ends come back, for one <see cref="CheckLoop"/>: the half-open
/// transport (a socket per check, closed on its event) or the raw SYN transport (crafted SYNs, replies read
/// from raw sockets). The loop owns the thread, epoll, the wake-up, the inbox, the watches, the in-flight
/// slots, the deadlines and the shutdown, and calls the transport at fixed points of each iteration.
/// Every member but <see cref="MaxEvents"/> runs on the loop thread.
/// </summary>
internal interface ILoopTransport
{
    /// <summary>Epoll events read in one wait.</summary>
    int MaxEvents { get; }

    /// <summary>Whether work of the transport's own waits (closes queued, say), so the loop must not sleep.</summary>
    bool HasPendingWork { get; }

    /// <summary>
    /// Joins the loop as it is made: registers the transport's descriptors with <see cref="CheckLoop.EpollFd"/>
    /// and takes the loop's slots and deadlines. Runs on the constructing thread, before the loop's thread starts.
    /// </summary>
    /// <exception cref="EngineStartException">A descriptor could not be registered.</exception>
    void Attach(CheckLoop loop);

    /// <summary>Starts a check whose place the accounting has already taken; it ends through the accounting.</summary>
    void Start(LoopCheck check);

    /// <summary>Handles an epoll event whose token is not the loop's wake-up.</summary>
    void OnEvent(ulong token, long eventTime);

    /// <summary>Ends the checks whose deadline has come, and does the transport's timed work (retransmissions, closes).</summary>
    void Expire(long now);

    /// <summary>Sends what the iteration's starts queued (no-op for a transport that sends at once).</summary>
    void Flush();

    /// <summary>Takes the check in <paramref name="slot"/> out of the loop, giving back what it holds (socket, source port).</summary>
    LoopCheck Release(int slot);

    /// <summary>When the transport must run next beside the deadlines, in <see cref="System.Diagnostics.Stopwatch"/> ticks (<see cref="long.MaxValue"/>: never).</summary>
    long NextWake(long now);

    /// <summary>Gives back every descriptor and buffer the transport holds, once no check is in flight (loop exit, or a loop that could not be made).</summary>
    void Close();
}
