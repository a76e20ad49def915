using System.Net;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>What <see cref="TcpShaker"/> needs from a checker: the epoll loops, or the connect-and-abort fallback.</summary>
internal interface ICheckEngine : IAsyncDisposable
{
    TcpShakerMode Mode { get; }

    /// <summary>Checks one address. The arguments are already validated.</summary>
    ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken);
}
