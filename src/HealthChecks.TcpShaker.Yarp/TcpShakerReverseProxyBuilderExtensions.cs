using System.Diagnostics.Metrics;
using HealthChecks.TcpShaker;
using HealthChecks.TcpShaker.Yarp;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration.ClusterValidators;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Half-open active health checks for YARP: <c>services.AddReverseProxy().LoadFromConfig(...).AddTcpShakerHealthChecks()</c>.</summary>
public static class TcpShakerReverseProxyBuilderExtensions
{
    /// <summary>
    /// Checks the destinations of every cluster whose active health check policy is <c>TcpShaker</c> half-open
    /// (SYN, SYN-ACK, RST): no request and no accepted connection on the destinations. Clusters with another policy keep
    /// YARP's own active checks. A cluster turns it on with <c>"HealthCheck": { "Active": { "Enabled": true, "Policy": "TcpShaker" } }</c>;
    /// <c>Interval</c> and <c>Timeout</c> keep YARP's names (2 s and 1 s when unset), rise, fall and the rest are
    /// <see cref="TcpShakerYarp"/>'s metadata keys. Uses the shared <see cref="TcpShaker"/> (registered here if it is not
    /// yet, see <c>AddTcpShakerEngine</c>), with a <see cref="TcpShakerMonitor"/> of its own.
    /// </summary>
    /// <param name="builder">The reverse proxy builder (after <c>AddReverseProxy()</c>).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">No <see cref="IActiveHealthCheckMonitor"/> is registered to decorate.</exception>
    public static IReverseProxyBuilder AddTcpShakerHealthChecks(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        IServiceCollection services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(TcpShakerActiveHealthCheckMonitor)))
        {
            return builder; // a second call changes nothing
        }

        List<ServiceDescriptor> monitors = [.. services.Where(d => d.ServiceType == typeof(IActiveHealthCheckMonitor) && !d.IsKeyedService)];
        if (monitors.Count == 0)
        {
            throw new InvalidOperationException(
                $"AddTcpShakerHealthChecks decorates YARP's {nameof(IActiveHealthCheckMonitor)}, and none is registered: call it on the builder AddReverseProxy() returns.");
        }

        services.AddTcpShakerEngine();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IActiveHealthCheckPolicy, TcpShakerActiveHealthCheckPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IClusterValidator, TcpShakerClusterValidator>());

        // The monitor that would be resolved (the last one) is decorated; the others were never used.
        ServiceDescriptor decorated = monitors[^1];
        foreach (ServiceDescriptor monitor in monitors)
        {
            services.Remove(monitor);
        }

        // YARP's health updater: the decorator writes through it as it is; every other service gets it filtered, so an
        // active verdict for a TcpShaker cluster from anyone else (an HTTP round that outlived a reload) is dropped.
        ServiceDescriptor? updater = services.LastOrDefault(d => d.ServiceType == typeof(IDestinationHealthUpdater) && !d.IsKeyedService);
        if (updater is null)
        {
            throw new InvalidOperationException(
                $"AddTcpShakerHealthChecks writes through YARP's {nameof(IDestinationHealthUpdater)}, and none is registered: call it on the builder AddReverseProxy() returns.");
        }

        services.RemoveAll<IDestinationHealthUpdater>();
        services.AddSingleton(sp =>
        {
            (object inner, bool owned) = Create(sp, updater);
            return new UnfilteredDestinationHealthUpdater((IDestinationHealthUpdater)inner, owned);
        });
        services.AddSingleton<IDestinationHealthUpdater>(sp => new FilteredDestinationHealthUpdater(
            sp.GetRequiredService<UnfilteredDestinationHealthUpdater>().Updater,
            new Lazy<TcpShakerActiveHealthCheckMonitor>(sp.GetRequiredService<TcpShakerActiveHealthCheckMonitor>)));

        // Registered as itself only, so the container disposes it once; YARP's services get non-disposable forwarders.
        services.AddSingleton(sp =>
        {
            (object inner, bool owned) = Create(sp, decorated);
            return new TcpShakerActiveHealthCheckMonitor(
                (IActiveHealthCheckMonitor)inner,
                owned,
                sp.GetRequiredService<TcpShaker>(),
                sp.GetRequiredService<UnfilteredDestinationHealthUpdater>().Updater,
                sp.GetService<TimeProvider>(),
                sp.GetService<ILoggerFactory>(),
                sp.GetService<IMeterFactory>());
        });
        services.AddSingleton<IActiveHealthCheckMonitor>(sp => new MonitorServiceForwarder(sp.GetRequiredService<TcpShakerActiveHealthCheckMonitor>()));

        // YARP's monitor also listens to cluster changes, to schedule its HTTP probes: where a listener is that
        // monitor, it is filtered so it never schedules a TcpShaker cluster.
        for (int i = 0; i < services.Count; i++)
        {
            ServiceDescriptor listener = services[i];
            if (listener.ServiceType == typeof(IClusterChangeListener) && !listener.IsKeyedService)
            {
                services[i] = ServiceDescriptor.Describe(typeof(IClusterChangeListener), sp =>
                {
                    object resolved = Create(sp, listener).Instance;
                    return ReferenceEquals(resolved, sp.GetRequiredService<TcpShakerActiveHealthCheckMonitor>().Inner)
                        ? new YarpMonitorListenerFilter((IClusterChangeListener)resolved)
                        : resolved;
                }, listener.Lifetime);
            }
        }

        services.AddSingleton<IClusterChangeListener>(sp => new MonitorServiceForwarder(sp.GetRequiredService<TcpShakerActiveHealthCheckMonitor>()));
        return builder;
    }

    /// <summary>Builds what a descriptor describes; <c>Owned</c> when the container will not dispose it (it built it from a type for us).</summary>
    private static (object Instance, bool Owned) Create(IServiceProvider services, ServiceDescriptor descriptor) =>
        descriptor.ImplementationInstance is { } instance ? (instance, false)
        : descriptor.ImplementationFactory is { } factory ? (factory(services), false)
        : (ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!), true);
}
