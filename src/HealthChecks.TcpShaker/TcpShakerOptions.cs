namespace HealthChecks.TcpShaker;

/// <summary>
/// The engine's settings, shared by every check one <see cref="TcpShaker"/> runs (a check's own settings are
/// <see cref="TcpShakerCheckOptions"/>). Bind them from configuration with <c>services.AddTcpShakerEngine(section)</c>;
/// they are validated when the host starts.
/// </summary>
public sealed class TcpShakerOptions
{
    /// <summary>
    /// Use the full-connect engine even where half-open checking is available.
    /// The server then sees each check as a (reset) connection. Default <see langword="false"/>.
    /// </summary>
    public bool ForceFullConnect { get; set; }

    /// <summary>
    /// Number of epoll loops, each on a thread of its own, from 1 to 64. One loop handles tens of thousands of
    /// checks per second; set it to <see cref="Environment.ProcessorCount"/> only for bulk checking. Default 1.
    /// Raw SYN mode (<see cref="PreferRawSyn"/>) runs one loop whatever this says: its loop does as much a check
    /// as the C prototype it is measured against, and its replies arrive on one raw socket per family.
    /// </summary>
    public int LoopCount { get; set; } = 1;

    /// <summary>
    /// Checks in flight (queued or waiting for the server) at the most across the engine; a check past
    /// it returns <see cref="TcpCheckStatus.LocalError"/> with <see cref="TcpCheckErrorKind.InFlightLimit"/> at once.
    /// At least 1. Default 32,768.
    /// </summary>
    public int MaxChecksInFlight { get; set; } = 32_768;

    /// <summary>
    /// Connects a loop starts between two <c>epoll_wait</c> calls, at least 1. Small batches keep every SYN-ACK
    /// answered within milliseconds, far inside the kernel's 200 ms delayed-ACK window. Default 64.
    /// </summary>
    public int MaxConnectsPerIteration { get; set; } = 64;

    /// <summary>
    /// At start, check once against a private loopback listener that the half-open technique works
    /// on this kernel (the listener's accept queue stays empty); fall back to
    /// <see cref="TcpShakerMode.FullConnect"/> if not. Default <see langword="true"/>.
    /// </summary>
    public bool VerifyOnStart { get; set; } = true;

    /// <summary>
    /// Check with raw SYNs (<see cref="TcpShakerMode.RawSyn"/>) where the process may: Linux, CAP_NET_RAW,
    /// and a start-up verification that proves the technique on this host (no firewall dropping the
    /// kernel's RSTs or hiding the replies), made whatever <see cref="VerifyOnStart"/> says. <see cref="ForceFullConnect"/> wins over it. The kernel then answers every SYN-ACK with RST itself, so no
    /// server ever sees a connection, however starved the process is. It reserves source ports from the
    /// ephemeral range (as many as the load needs); past them, checks of loopback targets also go out from
    /// 127.0.0.2, 127.0.0.3 and on. Where it cannot be used, the engine runs as without it
    /// and logs why, once. Default <see langword="false"/>: a library does not use a privilege it was not asked to.
    /// </summary>
    public bool PreferRawSyn { get; set; }

    /// <summary>
    /// Raise each epoll loop thread's scheduling priority (nice -10, <c>setpriority</c> on its thread id), so a
    /// loop starved of CPU by other processes still closes its sockets before the kernel's delayed ACK (200 ms).
    /// Needs CAP_SYS_NICE (or a matching RLIMIT_NICE); where refused, the loops run at normal priority and the
    /// refusal is logged once. Socket modes only. Default <see langword="false"/>.
    /// </summary>
    public bool RaiseLoopPriority { get; set; }

    /// <summary>Every setting out of range, as (name, value, rule); empty when all are valid.</summary>
    internal List<(string Name, object Value, string Rule)> Errors()
    {
        var errors = new List<(string, object, string)>();
        if (LoopCount is < 1 or > 64)
        {
            errors.Add((nameof(LoopCount), LoopCount, "must be from 1 to 64"));
        }

        if (MaxChecksInFlight < 1)
        {
            errors.Add((nameof(MaxChecksInFlight), MaxChecksInFlight, "must be at least 1"));
        }

        if (MaxConnectsPerIteration < 1)
        {
            errors.Add((nameof(MaxConnectsPerIteration), MaxConnectsPerIteration, "must be at least 1"));
        }

        return errors;
    }

    /// <summary>One sentence for a setting out of range, naming the configuration key it came from when there is one.</summary>
    internal static string Describe((string Name, object Value, string Rule) error, string? configurationKey = null) =>
        configurationKey is null
            ? $"TcpShakerOptions.{error.Name} is {error.Value}: it {error.Rule}."
            : $"TcpShakerOptions.{error.Name} is {error.Value} (configuration key {configurationKey}): it {error.Rule}.";

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the first one is named.</exception>
    internal void Validate()
    {
        if (Errors() is [var first, ..])
        {
            throw new ArgumentOutOfRangeException(first.Name, first.Value, Describe(first));
        }
    }
}
