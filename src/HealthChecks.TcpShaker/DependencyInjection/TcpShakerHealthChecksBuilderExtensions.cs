using HealthChecks.TcpShaker.Hosting;
using HealthChecks.TcpShaker;
using HealthChecks.TcpShaker.HealthCheck;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers half-open TCP health checks: <c>services.AddHealthChecks().AddTcpShaker("db", "10.0.0.5:5432")</c>; each check's settings are <see cref="TcpShakerCheckOptions"/>.</summary>
public static class TcpShakerHealthChecksBuilderExtensions
{
    /// <summary>Adds a health check of one TCP endpoint.</summary>
    /// <param name="builder">The health-checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="endpoint"><c>host:port</c>: <c>db:5432</c>, <c>10.0.0.5:6379</c> or <c>[::1]:80</c>.</param>
    /// <param name="failureStatus">The status when the port is not open; <see langword="null"/> for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="timeout">The registration's timeout (more than zero, at most <see cref="TcpShaker.MaxTimeout"/>); the check then answers within it. <see langword="null"/>: 2 seconds per check.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><paramref name="endpoint"/> is not a valid <c>host:port</c>, or <paramref name="timeout"/> is out of range.</exception>
    public static IHealthChecksBuilder AddTcpShaker(this IHealthChecksBuilder builder, string name, string endpoint,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var options = new TcpShakerCheckOptions();
        options.Endpoints.Add(endpoint);
        return builder.AddTcpShaker(name, options, options.Validate(name, nameof(endpoint)), failureStatus, tags, timeout);
    }

    /// <summary>Adds a health check of one or more TCP endpoints, configured in code.</summary>
    /// <param name="builder">The health-checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="configure">Sets the endpoints and how to judge them; it runs once, at registration.</param>
    /// <param name="failureStatus">The status when an endpoint is not open; <see langword="null"/> for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="timeout">The registration's timeout (more than zero, at most <see cref="TcpShaker.MaxTimeout"/>); the check then answers within it.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">An endpoint or setting is invalid (checked here, not at the first check).</exception>
    public static IHealthChecksBuilder AddTcpShaker(this IHealthChecksBuilder builder, string name, Action<TcpShakerCheckOptions> configure,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);

        var options = new TcpShakerCheckOptions();
        configure(options);
        return builder.AddTcpShaker(name, options, options.Validate(name, nameof(configure)), failureStatus, tags, timeout);
    }

    /// <summary>Adds a health check of one or more TCP endpoints, bound from configuration (for example a section of appsettings.json).</summary>
    /// <param name="builder">The health-checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="configuration">A section with the properties of <see cref="TcpShakerCheckOptions"/>: <c>Endpoints</c>, <c>Timeout</c>, ...</param>
    /// <param name="failureStatus">The status when an endpoint is not open; <see langword="null"/> for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="timeout">The registration's timeout (more than zero, at most <see cref="TcpShaker.MaxTimeout"/>); the check then answers within it.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The section holds an invalid endpoint or setting (checked here, not at the first check).</exception>
    public static IHealthChecksBuilder AddTcpShaker(this IHealthChecksBuilder builder, string name, IConfiguration configuration,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new TcpShakerCheckOptions();
        Bind(configuration, options, name);
        return builder.AddTcpShaker(name, options, options.Validate(name, configuration: configuration), failureStatus, tags, timeout);
    }

    /// <summary>Binds, turning the binder's "cannot convert" (which names the key) into an <see cref="ArgumentException"/> naming the check.</summary>
    private static void Bind(IConfiguration configuration, TcpShakerCheckOptions options, string name)
    {
        try
        {
            configuration.Bind(options);
        }
        catch (InvalidOperationException exception)
        {
            throw new ArgumentException($"The TCP health check '{name}' has a setting that cannot be read: {exception.Message}", exception);
        }
    }

    private static IHealthChecksBuilder AddTcpShaker(this IHealthChecksBuilder builder, string name, TcpShakerCheckOptions options, TcpEndpoint[] endpoints,
        HealthStatus? failureStatus, IEnumerable<string>? tags, TimeSpan? timeout)
    {
        if (timeout is { } registrationTimeout && registrationTimeout != System.Threading.Timeout.InfiniteTimeSpan
            && !TcpShaker.IsValidTimeout(registrationTimeout))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), registrationTimeout,
                $"The TCP health check '{name}' has registration timeout {registrationTimeout}: it must be more than zero and at most {TcpShaker.MaxTimeout} (or null / Timeout.InfiniteTimeSpan for none).");
        }

        builder.Services.AddTcpShakerEngine();
        if (options.Watch is not null)
        {
            return builder.AddWatched(name, options, endpoints, failureStatus, tags, timeout);
        }

        builder.Services.TryAddSingleton<TcpProbeCoordinator>();
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new CheckingHealthCheck(
                sp.GetRequiredService<TcpShaker>(),
                sp.GetRequiredService<TcpProbeCoordinator>(),
                options,
                endpoints,
                sp.GetService<ILoggerFactory>()?.CreateLogger(CheckingHealthCheck.LogCategory) ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance),
            failureStatus,
            tags,
            timeout));
    }

    /// <summary>A watched registration: its endpoints are watched from host start, and the check answers from their state.</summary>
    private static IHealthChecksBuilder AddWatched(this IHealthChecksBuilder builder, string name, TcpShakerCheckOptions options, TcpEndpoint[] endpoints,
        HealthStatus? failureStatus, IEnumerable<string>? tags, TimeSpan? timeout)
    {
        GetOrAddWatchedRegistrations(builder.Services).Register(name, endpoints, options);
        builder.Services.TryAddSingleton<WatchedCheckRegistry>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WatchLifetimeService>());
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new WatchedHealthCheck(sp.GetRequiredService<WatchedCheckRegistry>(), sp.GetRequiredService<TcpShaker>(), options, endpoints),
            failureStatus,
            tags,
            timeout));
    }

    /// <summary>The collection's one registry of watched registrations, filled at registration time (before any container exists).</summary>
    private static WatchedCheckRegistrations GetOrAddWatchedRegistrations(IServiceCollection services)
    {
        if (services.FirstOrDefault(d => d.ServiceType == typeof(WatchedCheckRegistrations))?.ImplementationInstance is WatchedCheckRegistrations existing)
        {
            return existing;
        }

        var created = new WatchedCheckRegistrations();
        services.AddSingleton(created);
        return created;
    }
}
