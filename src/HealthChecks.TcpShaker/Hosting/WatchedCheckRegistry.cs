namespace HealthChecks.TcpShaker.Hosting;

/// <summary>
/// A container's watches of its watched registrations: the hosted service starts them once the host has started, the health
/// checks read them. A DI singleton made per container from the collection's <see cref="WatchedCheckRegistrations"/>,
/// so a second container built from the same collection never reads the first one's (possibly disposed) watches.
/// </summary>
internal sealed class WatchedCheckRegistry(WatchedCheckRegistrations registrations)
{
    private readonly Dictionary<string, TcpWatch[]> _watches = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    /// <summary>Starts a watch per endpoint of every watched registration.</summary>
    internal void Start(TcpShakerMonitor monitor)
    {
        lock (_gate)
        {
            foreach ((string name, (TcpEndpoint[] endpoints, TcpShakerCheckOptions options)) in registrations.Snapshot())
            {
                if (!_watches.ContainsKey(name))
                {
                    _watches[name] = endpoints.Select(e => monitor.Watch(e, WatchOptions(options))).ToArray();
                }
            }
        }
    }

    /// <summary>The watches of a registration, or <see langword="null"/> before the host started them.</summary>
    internal TcpWatch[]? WatchesOf(string name)
    {
        lock (_gate)
        {
            return _watches.GetValueOrDefault(name);
        }
    }

    private static TcpWatchOptions WatchOptions(TcpShakerCheckOptions check)
    {
        // The registration's own address rules apply to every round of its watches.
        TcpWatchOptions options = check.Watch!.Clone();
        options.RequireAllAddresses |= check.RequireAllAddresses;
        options.AddressFamily ??= check.AddressFamily;
        return options;
    }
}
