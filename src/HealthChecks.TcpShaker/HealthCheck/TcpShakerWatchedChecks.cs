namespace HealthChecks.TcpShaker.HealthCheck;

/// <summary>
/// The watched registrations of a container (those with <see cref="TcpShakerCheckOptions.Watch"/>): the
/// hosted service starts their watches with the host, the health checks read them. A DI singleton.
/// </summary>
internal sealed class TcpShakerWatchedChecks
{
    private readonly Dictionary<string, (TcpEndpoint[] Endpoints, TcpShakerCheckOptions Options)> _registrations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TcpWatch[]> _watches = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    internal void Register(string name, TcpEndpoint[] endpoints, TcpShakerCheckOptions options)
    {
        lock (_gate)
        {
            _registrations[name] = (endpoints, options);
        }
    }

    /// <summary>Starts a watch per endpoint of every watched registration.</summary>
    internal void Start(TcpShakerMonitor monitor)
    {
        lock (_gate)
        {
            foreach ((string name, (TcpEndpoint[] endpoints, TcpShakerCheckOptions options)) in _registrations)
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
