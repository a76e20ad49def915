using System.Net.Sockets;

namespace HealthChecks.TcpShaker;

/// <summary>
/// How a <see cref="TcpWatch"/> checks its target and judges it: HAProxy's <c>inter</c>, <c>fastinter</c>,
/// <c>downinter</c>, <c>rise</c>, <c>fall</c> and <c>spread-checks</c>, with HAProxy's defaults. Binds from configuration.
/// </summary>
public sealed class TcpWatchOptions
{
    /// <summary>The shortest interval accepted: 10 ms.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest interval accepted: 1 hour.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromHours(1);

    /// <summary>Between two checks while the target is <see cref="TcpTargetHealth.Up"/> and no change is pending (HAProxy <c>inter</c>). Default 2 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long one check may take, resolving included; more than zero and at most <see cref="TcpShaker.MaxTimeout"/>.
    /// Keep it below the intervals: a check that outlasts its interval skips the places on the schedule it
    /// missed, so a silent target would then be checked only every other interval. Default 1 s.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Successes in a row that make the target <see cref="TcpTargetHealth.Up"/>, 1 to 1,000 (HAProxy <c>rise</c>). Default 2.</summary>
    public int Rise { get; set; } = 2;

    /// <summary>Failures in a row that make the target <see cref="TcpTargetHealth.Down"/>, 1 to 1,000 (HAProxy <c>fall</c>). Default 3.</summary>
    public int Fall { get; set; } = 3;

    /// <summary>
    /// Each check fires up to this fraction of its interval after its place on the schedule, at random
    /// (HAProxy <c>spread-checks</c>, Envoy <c>interval_jitter_percent</c>), 0 to 0.5. The offsets never add up:
    /// the schedule itself does not move. Default 0. Watches are spread regardless: each starts at a random
    /// point of its first interval (<see cref="FastInterval"/> when set, since there is no verdict yet), so
    /// 10,000 watches added at once check evenly over it.
    /// </summary>
    public double Jitter { get; set; }

    /// <summary>Between two checks while a change is pending: the first failure of an up target, the first success of a down one, no verdict yet (HAProxy <c>fastinter</c>). <see langword="null"/> (default): <see cref="Interval"/>.</summary>
    public TimeSpan? FastInterval { get; set; }

    /// <summary>Between two checks while the target is <see cref="TcpTargetHealth.Down"/> (HAProxy <c>downinter</c>). <see langword="null"/> (default): <see cref="Interval"/>.</summary>
    public TimeSpan? DownInterval { get; set; }

    /// <summary>For a host name with several addresses: a round succeeds only when every address is open. Default <see langword="false"/>: one open address is enough.</summary>
    public bool RequireAllAddresses { get; set; }

    /// <summary>Only check addresses of this family (<see cref="System.Net.Sockets.AddressFamily.InterNetwork"/> or <see cref="System.Net.Sockets.AddressFamily.InterNetworkV6"/>); <see langword="null"/> (default): both.</summary>
    public AddressFamily? AddressFamily { get; set; }

    /// <summary>A copy, so a watch keeps the settings it started with.</summary>
    internal TcpWatchOptions Clone() => (TcpWatchOptions)MemberwiseClone();

    /// <summary>Whether every setting equals <paramref name="other"/>'s.</summary>
    internal bool HasSameSettingsAs(TcpWatchOptions other) =>
        Interval == other.Interval && Timeout == other.Timeout && Rise == other.Rise && Fall == other.Fall
        && Jitter.Equals(other.Jitter) && FastInterval == other.FastInterval && DownInterval == other.DownInterval
        && RequireAllAddresses == other.RequireAllAddresses && AddressFamily == other.AddressFamily;

    /// <summary>Checks every setting, naming the first one out of range.</summary>
    /// <param name="owner">Whose options, for the message ("the watch of db:5432").</param>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    internal void Validate(string owner)
    {
        string? problem = FirstProblem();
        if (problem is not null)
        {
            throw new ArgumentException($"The TcpWatchOptions of {owner} are invalid: {problem}.");
        }
    }

    /// <summary>
    /// The first setting out of range, as a phrase naming it ("Rise is 0; it must be from 1 to 1000"), or
    /// <see langword="null"/> when every setting is valid: what <see cref="TcpShakerMonitor.Watch(TcpEndpoint, TcpWatchOptions?)"/>
    /// would reject, for integrations that validate configuration before they watch anything.
    /// </summary>
    /// <returns>The problem, or <see langword="null"/>.</returns>
    public string? FirstProblem()
    {
        if (Interval < MinInterval || Interval > MaxInterval)
        {
            return $"Interval is {Interval}; it must be from {MinInterval} to {MaxInterval}";
        }

        if (FastInterval is { } fast && (fast < MinInterval || fast > MaxInterval))
        {
            return $"FastInterval is {fast}; it must be from {MinInterval} to {MaxInterval}";
        }

        if (DownInterval is { } down && (down < MinInterval || down > MaxInterval))
        {
            return $"DownInterval is {down}; it must be from {MinInterval} to {MaxInterval}";
        }

        if (!TcpShaker.IsValidTimeout(Timeout))
        {
            return $"Timeout is {Timeout}; it must be more than zero and at most {TcpShaker.MaxTimeout}";
        }

        if (Rise is < 1 or > 1000)
        {
            return $"Rise is {Rise}; it must be from 1 to 1000";
        }

        if (Fall is < 1 or > 1000)
        {
            return $"Fall is {Fall}; it must be from 1 to 1000";
        }

        if (double.IsNaN(Jitter) || Jitter < 0 || Jitter > 0.5)
        {
            return $"Jitter is {Jitter}; it must be from 0 to 0.5 (a fraction of the interval)";
        }

        if (AddressFamily is not (null or System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            return $"AddressFamily is {AddressFamily}; only InterNetwork and InterNetworkV6 can be checked";
        }

        return null;
    }
}
