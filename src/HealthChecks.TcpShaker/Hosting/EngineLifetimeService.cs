using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker.Hosting;

/// <summary>
/// Starts the shared <see cref="TcpShaker"/> once every hosted service has started, and stops it (closing every socket)
/// when the host stops.
/// </summary>
/// <remarks>
/// Started once the others have (<see cref="IHostedLifecycleService.StartedAsync"/>), not with them: by then the app's
/// server listens on its ports, so raw SYN mode's source-port reservations (taken from the ephemeral range, skipping
/// ports already bound) can never take a port the app itself was about to listen on. The host still waits for the
/// start before it reports itself started.
/// </remarks>
internal sealed class EngineLifetimeService(TcpShaker shaker, ILoggerFactory? loggerFactory = null) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
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

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => shaker.DisposeAsync().AsTask().WaitAsync(cancellationToken);

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
