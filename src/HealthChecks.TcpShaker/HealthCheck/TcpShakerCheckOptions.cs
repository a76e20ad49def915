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
    /// <param name="name">The registration's name, for the message (and the exceptions' parameter name).</param>
    /// <returns>The parsed endpoints.</returns>
    /// <exception cref="ArgumentException">An endpoint or a setting is invalid.</exception>
    internal TcpEndpoint[] Validate(string name)
    {
        if (Endpoints.Count == 0)
        {
            throw new ArgumentException($"The TCP health check '{name}' has no endpoint: add at least one host:port to Endpoints.", nameof(name));
        }

        if (!TcpShaker.IsValidTimeout(Timeout))
        {
            throw new ArgumentException($"The TCP health check '{name}' has Timeout {Timeout}: it must be more than zero and at most {TcpShaker.MaxTimeout}.", nameof(name));
        }

        if (DegradedThreshold is { } threshold && threshold <= TimeSpan.Zero)
        {
            throw new ArgumentException($"The TCP health check '{name}' has DegradedThreshold {threshold}: it must be more than zero.", nameof(name));
        }

        if (MinimumInterval < TimeSpan.Zero || MinimumInterval > MaxMinimumInterval)
        {
            throw new ArgumentException($"The TCP health check '{name}' has MinimumInterval {MinimumInterval}: it must be zero (off) or positive, and at most {MaxMinimumInterval}.", nameof(name));
        }

        if (AddressFamily is not (null or System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"The TCP health check '{name}' has AddressFamily {AddressFamily}: only InterNetwork and InterNetworkV6 can be checked.", nameof(name));
        }

        if (Watch?.FirstProblem() is { } watchProblem)
        {
            throw new ArgumentException($"The TCP health check '{name}' has an invalid Watch: {watchProblem}.", nameof(name));
        }

        if (Watch is not null && MinimumInterval > TimeSpan.Zero)
        {
            throw new ArgumentException($"The TCP health check '{name}' sets both Watch and MinimumInterval: a watched check never probes on demand, so MinimumInterval has no effect; remove it.", nameof(name));
        }

        var endpoints = new TcpEndpoint[Endpoints.Count];
        for (int i = 0; i < endpoints.Length; i++)
        {
            if (!TcpEndpoint.TryParse(Endpoints[i], out TcpEndpoint? endpoint, out string? error))
            {
                throw new ArgumentException($"The TCP health check '{name}' has an invalid endpoint: {TcpEndpoint.InvalidEndpointMessage(Endpoints[i], error)}", nameof(name));
            }

            endpoints[i] = endpoint;
        }

        return endpoints;
    }
}
