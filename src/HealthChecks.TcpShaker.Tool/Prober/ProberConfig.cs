namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>What <c>serve</c> runs with: the modules, the safety bounds, and the watch mode's settings.</summary>
/// <param name="Modules">The <c>prober: tcp</c> modules by name, <c>tcp_connect</c> always among them (built in unless the file defines it).</param>
/// <param name="MaxConcurrentProbes"><c>tcp_shaker.max_concurrent_probes</c>: /probe requests checking at once; more are answered 503.</param>
/// <param name="AllowList"><c>tcp_shaker.allow</c>: where probes and watches may send SYNs.</param>
/// <param name="WatchModule"><c>tcp_shaker.watch.module</c>: the module the <c>--targets</c> watches check with.</param>
/// <param name="Watch"><c>tcp_shaker.watch</c>: interval, rise, fall and the rest for every watch.</param>
/// <param name="Notes">What the loader skipped and why (modules of other probers), logged at start.</param>
internal sealed record ProberConfig(
    IReadOnlyDictionary<string, ProberModule> Modules,
    int MaxConcurrentProbes,
    TargetAllowList AllowList,
    ProberModule WatchModule,
    TcpWatchOptions Watch,
    IReadOnlyList<string> Notes)
{
    /// <summary>The default bound on concurrent probes: far above what one Prometheus asks at once, far below the engine's in-flight limit.</summary>
    internal const int DefaultMaxConcurrentProbes = 1024;

    /// <summary>The configuration without a <c>--config</c> file: the built-in <c>tcp_connect</c>, no allow-list, the monitor's watch defaults.</summary>
    internal static ProberConfig Default { get; } = new(
        new Dictionary<string, ProberModule>(StringComparer.Ordinal) { [ProberModule.DefaultName] = ProberModule.Default },
        DefaultMaxConcurrentProbes,
        TargetAllowList.Everything,
        ProberModule.Default,
        WatchDefaults(ProberModule.Default),
        []);

    /// <summary>The monitor's defaults, with the module's timeout and address family.</summary>
    internal static TcpWatchOptions WatchDefaults(ProberModule module) => new()
    {
        Timeout = module.Timeout ?? TimeSpan.FromSeconds(1),
        AddressFamily = module.FallbackToOtherFamily ? null : module.PreferredFamily,
    };
}
