namespace HealthChecks.TcpShaker.Hosting;

/// <summary>
/// The watched registrations of a service collection (those with <see cref="TcpShakerCheckOptions.Watch"/>), filled at
/// registration time, before any container exists. Holds settings only: each container built from the collection
/// has its own <see cref="WatchedCheckRegistry"/> and so its own watches.
/// </summary>
internal sealed class WatchedCheckRegistrations
{
    private readonly Dictionary<string, (TcpEndpoint[] Endpoints, TcpShakerCheckOptions Options)> _registrations = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    internal void Register(string name, TcpEndpoint[] endpoints, TcpShakerCheckOptions options)
    {
        lock (_gate)
        {
            _registrations[name] = (endpoints, options);
        }
    }

    /// <summary>A copy of the registrations, by name.</summary>
    internal KeyValuePair<string, (TcpEndpoint[] Endpoints, TcpShakerCheckOptions Options)>[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _registrations];
        }
    }
}
