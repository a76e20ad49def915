using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// YARP's active health check monitor with the <c>TcpShaker</c> clusters taken out of it: those are watched half-open,
/// one <see cref="TcpWatch"/> per destination, their verdicts written with <see cref="IDestinationHealthUpdater.SetActive"/>;
/// every other cluster goes to the monitor it decorates (YARP's HTTP prober), untouched.
/// </summary>
/// <remarks>
/// YARP's own monitor probes every cluster whose active checks are enabled, whatever its policy, so a policy alone
/// cannot keep HTTP probes away from these destinations: the monitor and its cluster listener have to be filtered.
/// </remarks>
internal sealed partial class TcpShakerActiveHealthCheckMonitor : IActiveHealthCheckMonitor, IClusterChangeListener, IAsyncDisposable, IDisposable
{
    private readonly IDestinationHealthUpdater _healthUpdater;
    private readonly TcpShakerMonitor _monitor;
    private readonly ILogger _logger;
    private readonly IDisposable? _ownedInner;
    private readonly Lock _gate = new();
    private readonly Dictionary<ClusterState, Dictionary<DestinationState, DestinationWatch>> _clusters = [];
    private readonly Dictionary<TcpWatch, (ClusterState Cluster, DestinationState Destination)> _targets = [];
    private bool _disposed;

    public TcpShakerActiveHealthCheckMonitor(IActiveHealthCheckMonitor inner, bool ownsInner, TcpShaker shaker, IDestinationHealthUpdater healthUpdater,
        ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(shaker);
        ArgumentNullException.ThrowIfNull(healthUpdater);
        Inner = inner;
        _ownedInner = ownsInner ? inner as IDisposable : null;
        _healthUpdater = healthUpdater;
        _logger = (ILogger?)loggerFactory?.CreateLogger<TcpShakerActiveHealthCheckMonitor>() ?? NullLogger.Instance;
        _monitor = new TcpShakerMonitor(shaker, null, loggerFactory, meterFactory);
        _monitor.HealthChanged += OnHealthChanged;
    }

    /// <summary>The monitor decorated (YARP's), which keeps the clusters without the <c>TcpShaker</c> policy.</summary>
    public IActiveHealthCheckMonitor Inner { get; }

    /// <summary>The monitor the watches run in.</summary>
    public TcpShakerMonitor Monitor => _monitor;

    /// <summary>
    /// The decorated monitor's answer: the half-open watches have no initial round to wait for (each destination is
    /// <see cref="DestinationHealth.Unknown"/>, so in use, until its own rise or fall).
    /// </summary>
    public bool InitialProbeCompleted => Inner.InitialProbeCompleted;

    /// <summary>The destinations watched now, per cluster id, for tests and diagnostics.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, TcpWatch>> Watches
    {
        get
        {
            lock (_gate)
            {
                return _clusters.ToDictionary(
                    c => c.Key.ClusterId,
                    c => (IReadOnlyDictionary<string, TcpWatch>)c.Value.ToDictionary(d => d.Key.DestinationId, d => d.Value.Watch, StringComparer.OrdinalIgnoreCase),
                    StringComparer.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>The settings each destination is watched with, per cluster id, for tests and diagnostics.</summary>
    public ClusterSettings? SettingsOf(string clusterId, string destinationId)
    {
        lock (_gate)
        {
            return _clusters.FirstOrDefault(c => string.Equals(c.Key.ClusterId, clusterId, StringComparison.OrdinalIgnoreCase)).Value?
                .FirstOrDefault(d => string.Equals(d.Key.DestinationId, destinationId, StringComparison.OrdinalIgnoreCase)).Value?.Settings;
        }
    }

    /// <summary>YARP's initial round: the decorated monitor gets the clusters it keeps; ours are watched from their <see cref="OnClusterAdded"/>.</summary>
    public Task CheckHealthAsync(IEnumerable<ClusterState> clusters) =>
        Inner.CheckHealthAsync(clusters.Where(c => !ClusterSettings.AppliesTo(c.Model.Config)));

    public void OnClusterAdded(ClusterState cluster) => Reconcile(cluster, removed: false);

    public void OnClusterChanged(ClusterState cluster) => Reconcile(cluster, removed: false);

    public void OnClusterRemoved(ClusterState cluster) => Reconcile(cluster, removed: true);

    /// <summary>For a container disposed synchronously (which refuses a singleton that is only <see cref="IAsyncDisposable"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _disposed = true;
            _clusters.Clear();
            _targets.Clear();
        }

        _monitor.HealthChanged -= OnHealthChanged;
        await _monitor.DisposeAsync().ConfigureAwait(false);
        _ownedInner?.Dispose();
    }

    /// <summary>Brings the cluster's watches in line with its configuration: one per destination, at its check address, with the cluster's settings.</summary>
    private void Reconcile(ClusterState cluster, bool removed)
    {
        ClusterSettings? settings = null;
        var errors = new List<string>();
        if (!removed && ClusterSettings.AppliesTo(cluster.Model.Config))
        {
            settings = ClusterSettings.Read(cluster.Model.Config, errors);
        }

        var reset = new List<NewActiveDestinationHealth>();
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _clusters.TryGetValue(cluster, out Dictionary<DestinationState, DestinationWatch>? watches);
            if (settings is not { } wanted)
            {
                if (watches is not null)
                {
                    foreach ((DestinationState destination, DestinationWatch watch) in watches)
                    {
                        Stop(watch);
                        // The verdict was ours: a cluster that leaves the policy starts from Unknown, not from a stale Down.
                        reset.Add(new NewActiveDestinationHealth(destination, DestinationHealth.Unknown));
                    }

                    _clusters.Remove(cluster);
                    LogStopped(_logger, cluster.ClusterId, watches.Count);
                }

                if (errors.Count > 0)
                {
                    // Only reachable when the validator was bypassed (YARP validates before it applies a configuration).
                    LogInvalid(_logger, cluster.ClusterId, string.Join(" ", errors));
                }
            }
            else
            {
                if (watches is null)
                {
                    watches = [];
                    _clusters[cluster] = watches;
                }

                int started = 0;
                var current = new HashSet<DestinationState>();
                foreach (DestinationState destination in cluster.Destinations.Values)
                {
                    current.Add(destination);
                    TcpEndpoint? endpoint = ClusterSettings.CheckEndpoint(cluster.ClusterId, destination.DestinationId, destination.Model.Config, errors);
                    if (watches.TryGetValue(destination, out DestinationWatch? existing))
                    {
                        if (endpoint is not null && existing.Endpoint.Equals(endpoint) && existing.Settings == wanted)
                        {
                            continue;
                        }

                        Stop(existing);
                        watches.Remove(destination);
                        reset.Add(new NewActiveDestinationHealth(destination, DestinationHealth.Unknown));
                    }

                    if (endpoint is not null)
                    {
                        TcpWatch watch = _monitor.Watch(endpoint, wanted.ToOptions());
                        watches[destination] = new DestinationWatch(watch, endpoint, wanted);
                        _targets[watch] = (cluster, destination);
                        started++;
                    }
                }

                int stopped = 0;
                foreach (DestinationState gone in watches.Keys.Where(d => !current.Contains(d)).ToList())
                {
                    Stop(watches[gone]);
                    watches.Remove(gone);
                    stopped++;
                }

                if (started > 0 || stopped > 0)
                {
                    LogReconciled(_logger, cluster.ClusterId, watches.Count, started, stopped);
                }

                if (errors.Count > 0)
                {
                    LogInvalid(_logger, cluster.ClusterId, string.Join(" ", errors));
                }
            }

            // Under the lock, as every write of a verdict: a change of a stopped watch cannot land after this reset.
            if (reset.Count > 0 && !removed)
            {
                _healthUpdater.SetActive(cluster, reset);
            }
        }
    }

    private void Stop(DestinationWatch watch)
    {
        _targets.Remove(watch.Watch);
        watch.Watch.Dispose();
    }

    /// <summary>A watch changed its verdict (on a thread-pool thread, once per change): YARP's active health follows it.</summary>
    private void OnHealthChanged(object? sender, TcpHealthChange change)
    {
        DestinationHealth health = change.Current switch
        {
            TcpTargetHealth.Up => DestinationHealth.Healthy,
            TcpTargetHealth.Down => DestinationHealth.Unhealthy,
            _ => DestinationHealth.Unknown,
        };

        // The lookup and the write under one lock, so a reload that stops this watch (and resets the destination)
        // comes wholly before or wholly after: a change queued before the stop is dropped, never written late.
        lock (_gate)
        {
            if (!_targets.TryGetValue(change.Watch, out var target))
            {
                return;
            }

            (ClusterState cluster, DestinationState destination) = target;
            if (health == DestinationHealth.Unhealthy)
            {
                LogDown(_logger, cluster.ClusterId, destination.DestinationId, change.Describe());
            }
            else
            {
                LogChanged(_logger, cluster.ClusterId, destination.DestinationId, health, change.Describe());
            }

            // YARP's updater takes its own per-cluster lock and calls only the availability policy: no way back to us.
            _healthUpdater.SetActive(cluster, [new NewActiveDestinationHealth(destination, health)]);
        }
    }

    private sealed record DestinationWatch(TcpWatch Watch, TcpEndpoint Endpoint, ClusterSettings Settings);

    [LoggerMessage(1, LogLevel.Information, "Cluster '{ClusterId}': destination '{DestinationId}' is {Health}: {Reason}.")]
    private static partial void LogChanged(ILogger logger, string clusterId, string destinationId, DestinationHealth health, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Cluster '{ClusterId}': destination '{DestinationId}' is Unhealthy: {Reason}.")]
    private static partial void LogDown(ILogger logger, string clusterId, string destinationId, string reason);

    [LoggerMessage(2, LogLevel.Debug, "Cluster '{ClusterId}': {Count} destinations watched half-open ({Started} started, {Stopped} stopped).")]
    private static partial void LogReconciled(ILogger logger, string clusterId, int count, int started, int stopped);

    [LoggerMessage(3, LogLevel.Debug, "Cluster '{ClusterId}': half-open watches stopped ({Count}).")]
    private static partial void LogStopped(ILogger logger, string clusterId, int count);

    [LoggerMessage(4, LogLevel.Error, "Cluster '{ClusterId}': TcpShaker health checks not applied where invalid: {Errors}")]
    private static partial void LogInvalid(ILogger logger, string clusterId, string errors);
}
