using System.Net;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// A check a <see cref="CheckLoop"/> holds in its in-flight table: a caller's pooled
/// <see cref="CheckOperation"/>, or a watch's preallocated <see cref="ScheduledCheck"/>. The loop
/// thread completes it exactly once per start.
/// </summary>
internal abstract class LoopCheck
{
    /// <summary>The address to check.</summary>
    internal IPEndPoint EndPoint { get; private protected set; } = null!;

    /// <summary>When the check was asked for, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    internal long RequestedAt { get; private protected set; }

    /// <summary>When the check times out, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    internal long Deadline { get; private protected set; }

    /// <summary>The in-flight slot while the loop holds this check (a socket, or a raw SYN's source port), else -1. Loop thread only.</summary>
    internal int Slot { get; set; } = -1;

    /// <summary>Delivers the result. Loop thread.</summary>
    internal abstract void Complete(in TcpCheckResult result);

    /// <summary>Ends the check without a result: canceled (<paramref name="exception"/> null) or failed. Loop thread, or a thread whose request the loop can no longer take.</summary>
    internal abstract void Abandon(Exception? exception);
}
