using System.Globalization;
using Aspire.Hosting.ApplicationModel;

namespace HealthChecks.TcpShaker.Aspire;

/// <summary>
/// What one <c>WithTcpShakerHealthCheck</c> checks: the endpoint of a resource, its address once allocated and the
/// watch of that address. Made at registration, started when DCP has allocated the endpoint.
/// </summary>
internal sealed class ResourceEndpointTarget(string resourceName, EndpointAnnotation endpoint, TcpWatchOptions watchOptions)
{
    private readonly object _gate = new();
    private TcpWatch? _watch;
    private string? _problem;

    internal string ResourceName => resourceName;

    internal string EndpointName => endpoint.Name;

    /// <summary>What is checked, in words: "target port of 'tcp', proxy on localhost:6379", or "endpoint 'tcp'".</summary>
    internal string? Via { get; private set; }

    /// <summary>The watch, or <see langword="null"/> before the endpoint is allocated or when it cannot be checked.</summary>
    internal TcpWatch? Watch
    {
        get
        {
            lock (_gate)
            {
                return _watch;
            }
        }
    }

    /// <summary>Why the endpoint cannot be checked, or <see langword="null"/>.</summary>
    internal string? Problem
    {
        get
        {
            lock (_gate)
            {
                return _problem;
            }
        }
    }

    /// <summary>Starts watching the endpoint's address; a second call (the resource restarted) keeps the first watch.</summary>
    internal void Start(TcpShakerMonitor monitor)
    {
        lock (_gate)
        {
            if (_watch is not null)
            {
                return;
            }

            AllocatedEndpoint? allocated = endpoint.AllocatedEndpoint;
            if (allocated is null)
            {
                _problem = $"The endpoint '{endpoint.Name}' of the resource '{resourceName}' has no allocated address.";
                return;
            }

            string host;
            int port;
            if (endpoint.IsProxied)
            {
                // DCP's proxy accepts on the allocated port whatever the process does; the process itself listens
                // on the target port, so that is the port that says whether the resource is up.
                if (endpoint.TargetPort is not { } targetPort)
                {
                    _problem = $"The endpoint '{endpoint.Name}' of the resource '{resourceName}' is proxied and has no fixed target port: "
                        + "DCP picks the port the process listens on when it starts it, and a check of the proxy's port would say open "
                        + "whatever the process does. Give the endpoint a target port (WithEndpoint(port: ..., targetPort: ...)) or make it unproxied (isProxied: false).";
                    return;
                }

                host = LoopbackName(endpoint.TargetHost);
                port = targetPort;
                Via = string.Create(CultureInfo.InvariantCulture,
                    $"target port of '{endpoint.Name}', proxy on {allocated.Address}:{allocated.Port}");
            }
            else
            {
                host = LoopbackName(allocated.Address);
                port = allocated.Port;
                Via = $"endpoint '{endpoint.Name}'";
            }

            TcpEndpoint tcpEndpoint = TcpEndpoint.Parse(host.Contains(':', StringComparison.Ordinal)
                ? string.Create(CultureInfo.InvariantCulture, $"[{host}]:{port}")
                : string.Create(CultureInfo.InvariantCulture, $"{host}:{port}"));
            _watch = monitor.Watch(tcpEndpoint, watchOptions);
            _problem = null;
        }
    }

    /// <summary>A wildcard bind address ("0.0.0.0", "*", "+", "[::]") is reached on this host as "localhost".</summary>
    private static string LoopbackName(string? address) => address switch
    {
        null or "" or "*" or "+" or "0.0.0.0" or "::" or "[::]" => "localhost",
        _ => address.Trim('[', ']'),
    };
}
