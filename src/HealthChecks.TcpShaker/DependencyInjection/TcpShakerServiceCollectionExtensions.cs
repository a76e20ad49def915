using System.Diagnostics.Metrics;
using HealthChecks.TcpShaker.Hosting;
using HealthChecks.TcpShaker;
using HealthChecks.TcpShaker.HealthCheck;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the shared <see cref="TcpShaker"/> engine: <c>services.AddTcpShakerEngine(o => o.LoopCount = 2)</c>.</summary>
public static class TcpShakerServiceCollectionExtensions
{
    /// <summary>
    /// Registers the shared <see cref="TcpShaker"/> (one per container), the shared <see cref="TcpShakerMonitor"/>
    /// that watched health checks use (inject it to watch targets of your own), and the hosted service that
    /// starts and stops the engine. <c>AddTcpShaker</c> on <see cref="IHealthChecksBuilder"/> calls this; call it
    /// yourself to inject <see cref="TcpShaker"/> elsewhere or to set the engine's <see cref="TcpShakerOptions"/>.
    /// The options are validated when the host starts (<see cref="OptionsValidationException"/> naming the setting).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the engine's options, or <see langword="null"/>.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddTcpShakerEngine(this IServiceCollection services, Action<TcpShakerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<TcpShakerOptions> options = services.AddOptions<TcpShakerOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TcpShakerOptions>, TcpShakerOptionsValidator>());
        services.TryAddSingleton(sp => new TcpShaker(
            sp.GetRequiredService<IOptions<TcpShakerOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp => new TcpShakerMonitor(
            sp.GetRequiredService<TcpShaker>(),
            defaults: null,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IMeterFactory>(),
            sp.GetService<TimeProvider>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, EngineLifetimeService>());
        return services;
    }

    /// <summary>Registers the shared <see cref="TcpShaker"/> with its options bound from configuration (for example <c>HealthChecks:Engine</c>).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">A section with the properties of <see cref="TcpShakerOptions"/>: <c>LoopCount</c>, <c>MaxChecksInFlight</c>, ...</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddTcpShakerEngine(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddTcpShakerEngine();
        services.AddOptions<TcpShakerOptions>().Bind(configuration);
        services.AddSingleton(new TcpShakerEngineConfiguration(configuration));
        return services;
    }
}
