using System.Net;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// What <see cref="TcpShaker"/> needs from an engine: one made of loops (<see cref="Loop.LoopEngine"/>: the
/// half-open or the raw SYN engine) or the full-connect engine (<see cref="FullConnect.FullConnectEngine"/>).
/// </summary>
internal interface ICheckEngine : IAsyncDisposable
{
    /// <summary>How this engine checks.</summary>
    TcpShakerMode Mode { get; }

    /// <summary>The error that stopped the engine by itself, once it has stopped (null for a clean stop, or an engine that cannot fault).</summary>
    Task<Exception?> FirstFault { get; }

    /// <summary>Checks one address. The arguments are already validated.</summary>
    ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken);
}
