using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker.Hosting;

/// <summary>Starts the shared <see cref="TcpShaker"/> with the host and stops it (closing every socket) when the host stops.</summary>
internal sealed class EngineLifetimeService(TcpShaker shaker, ILoggerFactory? loggerFactory = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await shaker.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (EngineStartException exception)
        {
            // A full fd table at start must not keep the app from starting: checks answer LocalError
            // meanwhile, and each one tries to start the engine again.
            Log.StartFailed((ILogger?)loggerFactory?.CreateLogger<TcpShaker>() ?? NullLogger.Instance, exception);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => shaker.DisposeAsync().AsTask().WaitAsync(cancellationToken);
}
