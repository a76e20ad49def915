namespace HealthChecks.TcpShaker;

/// <summary>Settings of a <see cref="TcpShaker"/> engine, shared by every check it runs.</summary>
public sealed class TcpShakerOptions
{
    /// <summary>
    /// Use the connect-and-abort checker even where half-open checking is available.
    /// The server then sees each check as a (reset) connection. Default <see langword="false"/>.
    /// </summary>
    public bool ForceFullConnect { get; set; }

    /// <summary>
    /// Number of epoll loops, each on a thread of its own. One loop handles tens of thousands of
    /// checks per second; set it to <see cref="Environment.ProcessorCount"/> only for bulk checking. Default 1.
    /// </summary>
    public int LoopCount { get; set; } = 1;

    /// <summary>
    /// Checks in flight (queued or waiting for the server) at the most across the engine; a check past
    /// it returns <see cref="TcpCheckStatus.LocalError"/> at once. Default 32,768.
    /// </summary>
    public int MaxChecksInFlight { get; set; } = 32_768;

    /// <summary>
    /// Connects a loop starts between two <c>epoll_wait</c> calls. Small batches keep every SYN-ACK
    /// answered within milliseconds, far inside the kernel's 200 ms delayed-ACK window. Default 64.
    /// </summary>
    public int MaxConnectsPerIteration { get; set; } = 64;

    /// <summary>
    /// At start, check once against a private loopback listener that the half-open technique works
    /// on this kernel (the listener's accept queue stays empty); fall back to
    /// <see cref="TcpShakerMode.FullConnect"/> if not. Default <see langword="true"/>.
    /// </summary>
    public bool VerifyOnStart { get; set; } = true;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(LoopCount, 1, nameof(LoopCount));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LoopCount, 64, nameof(LoopCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxChecksInFlight, 1, nameof(MaxChecksInFlight));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectsPerIteration, 1, nameof(MaxConnectsPerIteration));
    }
}
