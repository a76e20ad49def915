namespace HealthChecks.TcpShaker;

/// <summary>What a <see cref="TcpWatch"/> concluded about its target.</summary>
public enum TcpTargetHealth
{
    /// <summary>No verdict yet: neither <see cref="TcpWatchOptions.Rise"/> successes nor <see cref="TcpWatchOptions.Fall"/> failures in a row so far.</summary>
    Unknown,

    /// <summary><see cref="TcpWatchOptions.Rise"/> successes in a row, and not <see cref="TcpWatchOptions.Fall"/> failures in a row since.</summary>
    Up,

    /// <summary><see cref="TcpWatchOptions.Fall"/> failures in a row, and not <see cref="TcpWatchOptions.Rise"/> successes in a row since.</summary>
    Down,
}
