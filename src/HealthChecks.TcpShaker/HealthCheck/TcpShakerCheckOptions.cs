using Microsoft.Extensions.Configuration;
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker;

/// <summary>What one TCP health-check registration checks, and how it judges the answers. Binds from configuration.</summary>
public sealed class TcpShakerCheckOptions
{
    /// <summary>The default <see cref="Timeout"/>: 2 seconds, so a black-holed target never hangs a probe.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The endpoints, each <c>host:port</c> (<c>db:5432</c>, <c>10.0.0.5:6379</c>, <c>[::1]:80</c>).
    /// The check is healthy when every one of them is.
    /// </summary>
    public IList<string> Endpoints { get; } = [];

    /// <summary>
    /// How long each check may take (resolving included) when the registration sets no timeout.
    /// Default <see cref="DefaultTimeout"/>.
    /// </summary>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;

    /// <summary>
    /// Report <see cref="Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded"/> when every
    /// endpoint is open but a handshake took longer than this. <see langword="null"/> (default): never degraded.
    /// </summary>
    public TimeSpan? DegradedThreshold { get; set; }

    /// <summary>
    /// For a host name with several addresses: healthy only when every address is open.
    /// Default <see langword="false"/>: one open address is enough.
    /// </summary>
    public bool RequireAllAddresses { get; set; }

    /// <summary>
    /// Only check addresses of this family: <see cref="System.Net.Sockets.AddressFamily.InterNetwork"/> (IPv4) or
    /// <see cref="System.Net.Sockets.AddressFamily.InterNetworkV6"/> (IPv6). <see langword="null"/> (default): both.
    /// </summary>
    public AddressFamily? AddressFamily { get; set; }

    /// <summary>
    /// Reuse the last result of an endpoint for this long instead of probing it again. Concurrent runs
    /// always share one probe in flight per endpoint; this also bounds the probe rate when the health
    /// endpoint is hit in a tight loop (at most one probe per endpoint per interval, however many requests).
    /// Default <see cref="TimeSpan.Zero"/>: off, every run probes (or joins the probe in flight). At most
    /// <see cref="MaxMinimumInterval"/>.
    /// </summary>
    public TimeSpan MinimumInterval { get; set; }

    /// <summary>
    /// Watch the endpoints from the moment the host has started instead of checking them on demand: each is checked on this
    /// schedule (rise, fall, intervals) by the shared <see cref="TcpShakerMonitor"/>, and the health check
    /// answers from the watches' state at once, probing nothing itself however often it is asked.
    /// <see langword="null"/> (default): every run probes (sharing a probe in flight, see <see cref="MinimumInterval"/>).
    /// </summary>
    public TcpWatchOptions? Watch { get; set; }

    /// <summary>
    /// With <see cref="Watch"/>: the status reported while a watch has no verdict yet (until its first check after
    /// start, which decides). A watch that had a verdict and can no longer check (<see cref="TcpWatch.UnknownReason"/>:
    /// the engine stopped, a loop faulted, no result in time) always reports the registration's failure status.
    /// <see langword="null"/> (default): the registration's failure status, so a readiness probe waits for the
    /// first verdict; <see cref="HealthStatus.Healthy"/> lets a pod become ready before its dependencies are judged.
    /// </summary>
    public HealthStatus? UnknownStatus { get; set; }

    /// <summary>The longest <see cref="MinimumInterval"/> accepted: 1 hour.</summary>
    public static readonly TimeSpan MaxMinimumInterval = TimeSpan.FromHours(1);

    /// <summary>Checks the options and parses the endpoints, naming whatever is wrong.</summary>
    /// <param name="name">The registration's name, for the message.</param>
    /// <param name="paramName">The registration method's parameter the options came from (<c>configure</c>, <c>endpoint</c>), or <see langword="null"/> when they came from configuration.</param>
    /// <param name="configuration">The configuration the options were bound from, or <see langword="null"/>: a bad setting is then named by its key (<c>HealthChecks:Queue:Timeout</c>), not by a parameter.</param>
    /// <returns>The parsed endpoints.</returns>
    /// <exception cref="ArgumentException">An endpoint or a setting is invalid.</exception>
    internal TcpEndpoint[] Validate(string name, string? paramName = null, IConfiguration? configuration = null)
    {
        string Setting(string property) => configuration is null ? property : ConfigurationKey(configuration, property);
        ArgumentException Invalid(string message) => new(message, configuration is null ? paramName : null);

        if (Endpoints.Count == 0)
        {
            if (configuration is IConfigurationSection { Value: null } section && !section.Exists())
            {
                throw Invalid($"The TCP health check '{name}' has no endpoint: the configuration section '{section.Path}' is missing or empty; add at least one host:port to {ConfigurationKey(section, nameof(Endpoints))}.");
            }

            throw Invalid($"The TCP health check '{name}' has no endpoint: add at least one host:port to {Setting(nameof(Endpoints))}.");
        }

        if (!TcpShaker.IsValidTimeout(Timeout))
        {
            throw Invalid($"The TCP health check '{name}' has {Setting(nameof(Timeout))} {Timeout}: it must be more than zero and at most {TcpShaker.MaxTimeout}.");
        }

        if (DegradedThreshold is { } threshold && threshold <= TimeSpan.Zero)
        {
            throw Invalid($"The TCP health check '{name}' has {Setting(nameof(DegradedThreshold))} {threshold}: it must be more than zero.");
        }

        if (MinimumInterval < TimeSpan.Zero || MinimumInterval > MaxMinimumInterval)
        {
            throw Invalid($"The TCP health check '{name}' has {Setting(nameof(MinimumInterval))} {MinimumInterval}: it must be zero (off) or positive, and at most {MaxMinimumInterval}.");
        }

        if (AddressFamily is not (null or System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            throw Invalid($"The TCP health check '{name}' has {Setting(nameof(AddressFamily))} {AddressFamily}: only InterNetwork and InterNetworkV6 can be checked.");
        }

        if (Watch?.FirstProblem() is { } watchProblem)
        {
            string where = configuration is null ? string.Empty : $" (configuration section {Setting(nameof(Watch))})";
            throw Invalid($"The TCP health check '{name}' has an invalid Watch{where}: {watchProblem}.");
        }

        if (Watch is not null && MinimumInterval > TimeSpan.Zero)
        {
            throw Invalid($"The TCP health check '{name}' sets both {Setting(nameof(Watch))} and {Setting(nameof(MinimumInterval))}: a watched check never probes on demand, so MinimumInterval has no effect; remove it.");
        }

        var endpoints = new TcpEndpoint[Endpoints.Count];
        for (int i = 0; i < endpoints.Length; i++)
        {
            if (!TcpEndpoint.TryParse(Endpoints[i], out TcpEndpoint? endpoint, out string? error))
            {
                string where = configuration is null ? string.Empty : $" (configuration key {EndpointKey(configuration, Endpoints[i])})";
                throw Invalid($"The TCP health check '{name}' has an invalid endpoint{where}: {TcpEndpoint.InvalidEndpointMessage(Endpoints[i], error)}");
            }

            endpoints[i] = endpoint;
        }

        return endpoints;
    }

    /// <summary>The full key of a setting under <paramref name="configuration"/>: <c>HealthChecks:Queue:Timeout</c> for a section, <c>Timeout</c> for a root.</summary>
    private static string ConfigurationKey(IConfiguration configuration, string property) =>
        configuration is IConfigurationSection { Path.Length: > 0 } section ? ConfigurationPath.Combine(section.Path, property) : property;

    /// <summary>The key an endpoint was bound from (<c>HealthChecks:Queue:Endpoints:1</c>), or the list's key when it cannot be told.</summary>
    private static string EndpointKey(IConfiguration configuration, string endpoint)
    {
        IConfigurationSection list = configuration.GetSection(nameof(Endpoints));
        IConfigurationSection? item = list.GetChildren().FirstOrDefault(child => string.Equals(child.Value, endpoint, StringComparison.Ordinal));
        return item?.Path ?? list.Path;
    }
}
