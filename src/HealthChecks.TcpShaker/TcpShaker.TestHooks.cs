using HealthChecks.TcpShaker.Engine;

namespace HealthChecks.TcpShaker;

/// <summary>What tests reach into.</summary>
public sealed partial class TcpShaker
{
    /// <summary>Test hook: make the start-up verification report the technique as broken.</summary>
    internal string? ForceBrokenTechnique
    {
        get => _host.ForceBrokenTechnique;
        set => _host.ForceBrokenTechnique = value;
    }

    /// <summary>Test hook: make every start of the engine fail with this exception.</summary>
    internal Exception? ForceStartFailure
    {
        get => _host.ForceStartFailure;
        set => _host.ForceStartFailure = value;
    }

    /// <summary>Test hook: make raw SYN mode unavailable for this reason.</summary>
    internal string? ForceRawSynUnavailable
    {
        get => _host.ForceRawSynUnavailable;
        set => _host.ForceRawSynUnavailable = value;
    }

    /// <summary>Test hook: the engine's life (its restart limits and the restarts so far).</summary>
    internal EngineHost Host => _host;

    /// <summary>Test hook: the running engine, once started.</summary>
    internal ICheckEngine? Engine => _host.Engine;

    /// <summary>Test hook: resolves host names instead of DNS (a name whose address changes between rounds).</summary>
    internal Func<TcpEndpoint, System.Net.IPAddress[]>? ResolveOverride { get; set; }
}
