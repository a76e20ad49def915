namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// One started <see cref="TcpShaker"/> per mode the modules ask for (an engine runs one mode): made and
/// started together at start, disposed together at the end. A raw SYN engine that cannot run raw
/// (no CAP_NET_RAW) checks half-open, and says why in <see cref="Notes"/>.
/// </summary>
internal sealed class ProberEngines : IAsyncDisposable
{
    private readonly Dictionary<TcpShakerMode, TcpShaker> _byRequestedMode;

    private ProberEngines(Dictionary<TcpShakerMode, TcpShaker> byRequestedMode, List<string> notes)
    {
        _byRequestedMode = byRequestedMode;
        Notes = notes;
    }

    /// <summary>Raw SYN asked for and not available, one sentence each.</summary>
    internal IReadOnlyList<string> Notes { get; }

    /// <summary>Makes and starts an engine for each mode in <paramref name="modes"/>.</summary>
    internal static async Task<ProberEngines> StartAsync(IEnumerable<TcpShakerMode> modes, CancellationToken cancellationToken)
    {
        var engines = new Dictionary<TcpShakerMode, TcpShaker>();
        var notes = new List<string>();
        try
        {
            foreach (TcpShakerMode mode in modes.Distinct())
            {
                var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = mode == TcpShakerMode.FullConnect, PreferRawSyn = mode == TcpShakerMode.RawSyn });
                engines[mode] = shaker;
                await shaker.StartAsync(cancellationToken);
                if (mode == TcpShakerMode.RawSyn && shaker.Mode != TcpShakerMode.RawSyn)
                {
                    notes.Add($"raw_syn: {shaker.ModeReason ?? "raw SYN mode is not available here (it needs Linux and CAP_NET_RAW)"}; raw_syn modules check in {ProberModule.ModeLabel(shaker.Mode)} mode.");
                }
            }
        }
        catch
        {
            foreach (TcpShaker shaker in engines.Values)
            {
                await shaker.DisposeAsync();
            }

            throw;
        }

        return new ProberEngines(engines, notes);
    }

    /// <summary>The engine for a module's mode.</summary>
    internal TcpShaker For(TcpShakerMode requested) => _byRequestedMode[requested];

    public async ValueTask DisposeAsync()
    {
        foreach (TcpShaker shaker in _byRequestedMode.Values)
        {
            await shaker.DisposeAsync();
        }
    }
}
