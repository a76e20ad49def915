using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// YARP's active health check monitor with the <c>TcpShaker</c> clusters taken out of it: those are watched half-open,
/// one <see cref="TcpWatch"/> per destination, their verdicts written with <see cref="IDestinationHealthUpdater.SetActive"/>
/// on every change and again every interval (a round per cluster, on the injected <see cref="TimeProvider"/>);
/// every other cluster goes to the monitor it decorates (YARP's HTTP prober), untouched.
/// </summary>
/// <remarks>
/// YARP's own monitor probes every cluster whose active checks are enabled, whatever its policy, so a policy alone
/// cannot keep HTTP probes away from these destinations: the monitor and its cluster listener have to be filtered,
/// and so do the active verdicts others write (<see cref="FilteredDestinationHealthUpdater"/>). Every verdict is written
/// under one lock with the bookkeeping of which clusters and watches are ours, so a reload is wholly before or after it.
/// </remarks>
internal sealed partial class TcpShakerActiveHealthCheckMonitor : IActiveHealthCheckMonitor, IClusterChangeListener, IAsyncDisposable, IDisposable
{
    private readonly IDestinationHealthUpdater _healthUpdater;
    private readonly TcpShakerMonitor _monitor;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IDisposable? _ownedInner;
    private readonly Lock _gate = new();
    private readonly Dictionary<ClusterState, ClusterWatches> _clusters = [];
    private readonly Dictionary<TcpWatch, (ClusterWatches Cluster, DestinationState Destination)> _targets = [];
    private bool _disposed;
    private int _disposing;

    /// <param name="inner">The monitor decorated (YARP's).</param>
    /// <param name="ownsInner">Whether to dispose <paramref name="inner"/> (the container will not).</param>
    /// <param name="shaker">The engine the watches check through.</param>
    /// <param name="healthUpdater">YARP's updater, unfiltered: the one this monitor writes its verdicts through.</param>
    /// <param name="timeProvider">The clock of the rounds and of carried verdicts; <see langword="null"/> for the system's.</param>
    /// <param name="loggerFactory">Where to log changes of verdict.</param>
    /// <param name="meterFactory">Where the monitor's meter comes from.</param>
    public TcpShakerActiveHealthCheckMonitor(IActiveHealthCheckMonitor inner, bool ownsInner, TcpShaker shaker, IDestinationHealthUpdater healthUpdater,
        TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(shaker);
        ArgumentNullException.ThrowIfNull(healthUpdater);
        Inner = inner;
        _ownedInner = ownsInner ? inner as IDisposable : null;
        _healthUpdater = healthUpdater;
        _time = timeProvider ?? TimeProvider.System;
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
                    c => (IReadOnlyDictionary<string, TcpWatch>)c.Value.Destinations.ToDictionary(d => d.Key.DestinationId, d => d.Value.Watch, StringComparer.OrdinalIgnoreCase),
                    StringComparer.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>The settings each destination is watched with, per cluster id, for tests and diagnostics.</summary>
    public ClusterSettings? SettingsOf(string clusterId, string destinationId)
    {
        lock (_gate)
        {
            return _clusters.FirstOrDefault(c => string.Equals(c.Key.ClusterId, clusterId, StringComparison.OrdinalIgnoreCase)).Value?.Destinations
                .FirstOrDefault(d => string.Equals(d.Key.DestinationId, destinationId, StringComparison.OrdinalIgnoreCase)).Value?.Settings;
        }
    }

    /// <summary>YARP's initial round: the decorated monitor gets the clusters it keeps; ours are watched from their <see cref="OnClusterAdded"/>.</summary>
    public Task CheckHealthAsync(IEnumerable<ClusterState> clusters) =>
        Inner.CheckHealthAsync(clusters.Where(c => !ClusterSettings.AppliesTo(c.Model.Config)));

    public void OnClusterAdded(ClusterState cluster) => Reconcile(cluster, removed: false);

    public void OnClusterChanged(ClusterState cluster) => Reconcile(cluster, removed: false);

    public void OnClusterRemoved(ClusterState cluster) => Reconcile(cluster, removed: true);

    /// <summary>
    /// An active verdict from anyone else (through <see cref="FilteredDestinationHealthUpdater"/>): dropped for a cluster
    /// whose destinations are watched here, written otherwise. Under the lock, so it cannot fall between a reload that
    /// moves the cluster to the policy and the reset that follows.
    /// </summary>
    public void SetActiveUnlessWatched(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates)
    {
        lock (_gate)
        {
            if (_clusters.ContainsKey(cluster))
            {
                LogForeignVerdictDropped(_logger, cluster.ClusterId);
                return;
            }

            _healthUpdater.SetActive(cluster, newHealthStates);
        }
    }

    /// <summary>For a container disposed synchronously (which refuses a singleton that is only <see cref="IAsyncDisposable"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            return;
        }

        lock (_gate)
        {
            _disposed = true;
            foreach (ClusterWatches watches in _clusters.Values)
            {
                watches.Dispose();
            }

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

        var writes = new List<NewActiveDestinationHealth>();
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _clusters.TryGetValue(cluster, out ClusterWatches? watches);
            if (settings is not { } wanted)
            {
                if (watches is not null)
                {
                    foreach ((DestinationState destination, DestinationWatch watch) in watches.Destinations)
                    {
                        Stop(watch);
                        // The verdict was ours: a cluster that leaves the policy starts from Unknown, not from a stale Down.
                        writes.Add(new NewActiveDestinationHealth(destination, DestinationHealth.Unknown));
                    }

                    watches.Dispose();
                    _clusters.Remove(cluster);
                    LogStopped(_logger, cluster.ClusterId, watches.Destinations.Count);
                }

                if (errors.Count > 0)
                {
                    // Only reachable when the validator was bypassed (YARP validates before it applies a configuration).
                    LogInvalid(_logger, cluster.ClusterId, string.Join(" ", errors));
                }
            }
            else
            {
                DateTimeOffset now = _time.GetUtcNow();
                if (watches is null)
                {
                    // Entering the policy (or added): whatever verdict the destinations have is not ours (an HTTP
                    // checker's, say), so each starts from Unknown below.
                    watches = new ClusterWatches(cluster, wanted, _time, WriteRound);
                    _clusters[cluster] = watches;
                }
                else
                {
                    watches.Reschedule(wanted);
                }

                int started = 0;
                int carried = 0;
                var current = new HashSet<DestinationState>();
                foreach (DestinationState destination in cluster.Destinations.Values)
                {
                    current.Add(destination);
                    TcpEndpoint? endpoint = ClusterSettings.CheckEndpoint(cluster.ClusterId, destination.DestinationId, destination.Model.Config, errors);
                    DestinationHealth verdict = DestinationHealth.Unknown;
                    if (watches.Destinations.TryGetValue(destination, out DestinationWatch? existing))
                    {
                        bool sameTarget = endpoint is not null && existing.Endpoint.Equals(endpoint);
                        if (sameTarget && existing.Settings == wanted)
                        {
                            continue;
                        }

                        // Same address, new settings: the destination is what it was, so its verdict carries over to
                        // the new watch until that one has its own. A new address starts from Unknown.
                        verdict = sameTarget ? existing.Verdict(now) : DestinationHealth.Unknown;
                        Stop(existing);
                        watches.Destinations.Remove(destination);
                    }

                    if (endpoint is not null)
                    {
                        var watch = new DestinationWatch(_monitor.Watch(endpoint, wanted.ToOptions()), endpoint, wanted);
                        watch.Carry(verdict, now + wanted.VerdictCarryLimit);
                        watches.Destinations[destination] = watch;
                        _targets[watch.Watch] = (watches, destination);
                        started++;
                        carried += verdict == DestinationHealth.Unknown ? 0 : 1;
                        verdict = watch.Verdict(now);
                    }

                    writes.Add(new NewActiveDestinationHealth(destination, verdict));
                }

                int stopped = 0;
                foreach (DestinationState gone in watches.Destinations.Keys.Where(d => !current.Contains(d)).ToList())
                {
                    Stop(watches.Destinations[gone]);
                    watches.Destinations.Remove(gone);
                    stopped++;
                }

                if (started > 0 || stopped > 0)
                {
                    LogReconciled(_logger, cluster.ClusterId, watches.Destinations.Count, started, stopped, carried);
                }

                if (errors.Count > 0)
                {
                    LogInvalid(_logger, cluster.ClusterId, string.Join(" ", errors));
                }
            }

            // Under the lock, as every write of a verdict: a change of a stopped watch cannot land after this one.
            if (writes.Count > 0 && !removed)
            {
                _healthUpdater.SetActive(cluster, writes);
            }
        }
    }

    private void Stop(DestinationWatch watch)
    {
        _targets.Remove(watch.Watch);
        watch.Watch.Dispose();
    }

    /// <summary>
    /// A cluster's round (its timer, once an interval): every destination's current verdict is written again. YARP's
    /// updater changes only what differs, so a round where nothing changed costs a comparison per destination.
    /// </summary>
    private void WriteRound(ClusterWatches watches)
    {
        lock (_gate)
        {
            // A round that fired as the cluster left the policy (or was replaced) writes nothing.
            if (_disposed || !_clusters.TryGetValue(watches.Cluster, out ClusterWatches? current) || !ReferenceEquals(current, watches))
            {
                return;
            }

            DateTimeOffset now = _time.GetUtcNow();
            var writes = new List<NewActiveDestinationHealth>(watches.Destinations.Count);
            foreach ((DestinationState destination, DestinationWatch watch) in watches.Destinations)
            {
                writes.Add(new NewActiveDestinationHealth(destination, watch.Verdict(now)));
            }

            _healthUpdater.SetActive(watches.Cluster, writes);
        }
    }

    /// <summary>A watch changed its verdict (on a thread-pool thread, once per change): YARP's active health follows it.</summary>
    private void OnHealthChanged(object? sender, TcpHealthChange change)
    {
        // The lookup and the write under one lock, so a reload that stops this watch (and resets the destination)
        // comes wholly before or wholly after: a change queued before the stop is dropped, never written late.
        lock (_gate)
        {
            if (!_targets.TryGetValue(change.Watch, out var target))
            {
                return;
            }

            (ClusterWatches watches, DestinationState destination) = target;
            DestinationHealth health = DestinationWatch.ToDestinationHealth(change.Current);
            if (health == DestinationHealth.Unhealthy)
            {
                LogDown(_logger, watches.Cluster.ClusterId, destination.DestinationId, change.Describe());
            }
            else
            {
                LogChanged(_logger, watches.Cluster.ClusterId, destination.DestinationId, health, change.Describe());
            }

            // The watch's verdict now (events are queued, so it may have moved on since this change), not the change's.
            // YARP's updater takes its own per-cluster lock and calls only the availability policy: no way back to us.
            DestinationHealth verdict = watches.Destinations[destination].Verdict(_time.GetUtcNow());
            _healthUpdater.SetActive(watches.Cluster, [new NewActiveDestinationHealth(destination, verdict)]);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Cluster '{ClusterId}': destination '{DestinationId}' is {Health}: {Reason}.")]
    private static partial void LogChanged(ILogger logger, string clusterId, string destinationId, DestinationHealth health, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Cluster '{ClusterId}': destination '{DestinationId}' is Unhealthy: {Reason}.")]
    private static partial void LogDown(ILogger logger, string clusterId, string destinationId, string reason);

    [LoggerMessage(2, LogLevel.Debug, "Cluster '{ClusterId}': {Count} destinations watched half-open ({Started} started, {Stopped} stopped, {Carried} keeping their verdict across new settings).")]
    private static partial void LogReconciled(ILogger logger, string clusterId, int count, int started, int stopped, int carried);

    [LoggerMessage(3, LogLevel.Debug, "Cluster '{ClusterId}': half-open watches stopped ({Count}).")]
    private static partial void LogStopped(ILogger logger, string clusterId, int count);

    [LoggerMessage(4, LogLevel.Error, "Cluster '{ClusterId}': TcpShaker health checks not applied where invalid: {Errors}")]
    private static partial void LogInvalid(ILogger logger, string clusterId, string errors);

    [LoggerMessage(6, LogLevel.Debug, "Cluster '{ClusterId}': an active verdict from another checker was dropped; the half-open watches decide this cluster's active health.")]
    private static partial void LogForeignVerdictDropped(ILogger logger, string clusterId);
}
