using Aspire.Hosting.ApplicationModel;
using HealthChecks.TcpShaker;
using HealthChecks.TcpShaker.Aspire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

// Aspire's own resource extensions (WithHttpHealthCheck, WaitFor ...) live here, so this one is found without a using.
namespace Aspire.Hosting;

/// <summary>Half-open TCP health checks for Aspire resources: <c>builder.AddExecutable(...).WithEndpoint(...).WithTcpShakerHealthCheck()</c>.</summary>
public static class TcpShakerResourceBuilderExtensions
{
    /// <summary>
    /// Makes the resource healthy when the port it listens on answers a SYN: a watch of the AppHost's shared
    /// <see cref="TcpShakerMonitor"/> checks it half-open (SYN, SYN-ACK, RST, so the process never accepts a connection),
    /// and the resource's health check, which Aspire polls for the dashboard and for <c>WaitFor</c>, answers from
    /// the watch's state without sending anything itself.
    /// </summary>
    /// <remarks>
    /// A proxied endpoint is checked on its target port (the port the process listens on): DCP's proxy listens on the
    /// endpoint's port whatever the process does, so a check of that port would say open before the process listens, or
    /// when it never does. A proxied endpoint therefore needs a fixed target port
    /// (<c>WithEndpoint(port: 6379, targetPort: 6380)</c>); without one the check stays Unhealthy and says why. An
    /// unproxied endpoint (<c>isProxied: false</c>) is checked on its port. Until the endpoint is allocated the check is
    /// Unhealthy with a sentence saying so. When the AppHost publishes rather than runs, nothing is registered.
    /// </remarks>
    /// <typeparam name="T">The resource's type.</typeparam>
    /// <param name="builder">The resource builder.</param>
    /// <param name="endpointName">The endpoint to check; <see langword="null"/> for the resource's only endpoint.</param>
    /// <param name="configureWatch">
    /// Changes the watch's settings: by default every second (<see cref="TcpWatchOptions.Interval"/>, also while down),
    /// a 1 s timeout, <see cref="TcpWatchOptions.Rise"/> 1 and <see cref="TcpWatchOptions.Fall"/> 2.
    /// </param>
    /// <returns>The resource builder.</returns>
    /// <exception cref="DistributedApplicationException">
    /// The resource has no endpoint of that name, no endpoint at all, or several and no name was given; or the watch's
    /// settings are invalid. The message names the resource and the endpoint.
    /// </exception>
    public static IResourceBuilder<T> WithTcpShakerHealthCheck<T>(this IResourceBuilder<T> builder, string? endpointName = null, Action<TcpWatchOptions>? configureWatch = null)
        where T : IResourceWithEndpoints
    {
        ArgumentNullException.ThrowIfNull(builder);
        T resource = builder.Resource;
        EndpointAnnotation endpoint = SelectEndpoint(resource, endpointName);

        var watchOptions = new TcpWatchOptions
        {
            // A resource that is not up yet is what WaitFor waits on: check it as often while down as while up.
            Interval = TimeSpan.FromSeconds(1),
            DownInterval = TimeSpan.FromSeconds(1),
            Timeout = TimeSpan.FromSeconds(1),
            Rise = 1,
            Fall = 2,
        };
        configureWatch?.Invoke(watchOptions);
        if (watchOptions.FirstProblem() is { } problem)
        {
            throw new DistributedApplicationException(
                $"The TCP health check of the endpoint '{endpoint.Name}' of the resource '{resource.Name}' has invalid watch settings: {problem}");
        }

        if (!builder.ApplicationBuilder.ExecutionContext.IsRunMode)
        {
            // Publishing runs nothing and polls no health check: no engine, no socket, same validation as a run.
            return builder;
        }

        string key = $"{resource.Name}_{endpoint.Name}_tcpshaker_check";
        var target = new ResourceEndpointTarget(resource.Name, endpoint, watchOptions);

        builder.ApplicationBuilder.Services.AddTcpShakerEngine();
        builder.ApplicationBuilder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            key,
            services => new TcpShakerResourceHealthCheck(target, services.GetRequiredService<TcpShaker>()),
            HealthStatus.Unhealthy,
            tags: null));

        // The address is known once DCP has allocated the endpoint; the watch starts then, before the process does,
        // so its first verdict is there when Aspire starts polling the running resource.
        builder.OnResourceEndpointsAllocated((_, allocated, _) =>
        {
            target.Start(allocated.Services.GetRequiredService<TcpShakerMonitor>());
            return Task.CompletedTask;
        });

        return builder.WithHealthCheck(key);
    }

    private static EndpointAnnotation SelectEndpoint(IResourceWithEndpoints resource, string? endpointName)
    {
        EndpointAnnotation[] endpoints = [.. resource.Annotations.OfType<EndpointAnnotation>()];
        if (endpointName is not null)
        {
            return endpoints.FirstOrDefault(e => string.Equals(e.Name, endpointName, StringComparison.OrdinalIgnoreCase))
                ?? throw new DistributedApplicationException(
                    $"Could not add a TCP health check to the resource '{resource.Name}': it has no endpoint named '{endpointName}' "
                    + $"({(endpoints.Length == 0 ? "it has none" : "its endpoints: " + Names(endpoints))}). Declare the endpoint (WithEndpoint) before WithTcpShakerHealthCheck.");
        }

        return endpoints.Length switch
        {
            1 => endpoints[0],
            0 => throw new DistributedApplicationException(
                $"Could not add a TCP health check to the resource '{resource.Name}': it has no endpoint. Declare one (WithEndpoint) before WithTcpShakerHealthCheck."),
            _ => throw new DistributedApplicationException(
                $"Could not add a TCP health check to the resource '{resource.Name}': it has several endpoints ({Names(endpoints)}); name the one to check."),
        };
    }

    private static string Names(EndpointAnnotation[] endpoints) => string.Join(", ", endpoints.Select(e => $"'{e.Name}'"));
}
