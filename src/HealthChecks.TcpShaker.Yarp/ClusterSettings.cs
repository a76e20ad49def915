using System.Globalization;
using Yarp.ReverseProxy.Configuration;

namespace HealthChecks.TcpShaker.Yarp;

/// <summary>
/// A cluster's watch settings, read from YARP's own <c>HealthCheck:Active</c> (<c>Interval</c>, <c>Timeout</c>) and the
/// <c>TcpShaker.*</c> metadata. A value type, so a reload that changes nothing keeps every watch running.
/// </summary>
internal readonly record struct ClusterSettings(TimeSpan Interval, TimeSpan Timeout, int Rise, int Fall, double Jitter, TimeSpan? FastInterval, TimeSpan? DownInterval)
{
    private static readonly TcpWatchOptions Defaults = new();

    /// <summary>Whether the cluster asks for half-open checks: active checks enabled with the <c>TcpShaker</c> policy.</summary>
    public static bool AppliesTo(ClusterConfig? cluster) =>
        cluster?.HealthCheck?.Active is { Enabled: true, Policy: { } policy }
        && string.Equals(policy, TcpShakerYarp.PolicyName, StringComparison.OrdinalIgnoreCase);

    public TcpWatchOptions ToOptions() => new()
    {
        Interval = Interval,
        Timeout = Timeout,
        Rise = Rise,
        Fall = Fall,
        Jitter = Jitter,
        FastInterval = FastInterval,
        DownInterval = DownInterval,
    };

    /// <summary>
    /// How long a destination's verdict is carried over to the new watch that replaces its watch (same address, new
    /// settings) while the new one has no verdict of its own: enough for <c>max(Rise, Fall)</c> checks and one more at
    /// the slowest of the intervals, each taking up to the timeout. Past it, the new watch's <c>Unknown</c> stands.
    /// </summary>
    public TimeSpan VerdictCarryLimit =>
        (TimeSpan.FromTicks(Math.Max(Interval.Ticks, Math.Max((FastInterval ?? Interval).Ticks, (DownInterval ?? Interval).Ticks))) + Timeout)
        * (Math.Max(Rise, Fall) + 1);

    /// <summary>Reads the settings, adding one sentence per problem (naming the cluster and the key) to <paramref name="errors"/>.</summary>
    public static ClusterSettings? Read(ClusterConfig cluster, List<string> errors)
    {
        int before = errors.Count;
        ActiveHealthCheckConfig active = cluster.HealthCheck!.Active!;
        var settings = new ClusterSettings(Defaults.Interval, Defaults.Timeout, Defaults.Rise, Defaults.Fall, Defaults.Jitter, null, null);

        // YARP's HealthCheck:Active:Interval and Timeout keep their names; YARP's defaults (15 s, 10 s) are for HTTP
        // probes, so an unset value takes the monitor's (HAProxy's 2 s and 1 s) instead.
        if (active.Interval is { } interval)
        {
            settings = settings with { Interval = interval };
            Check(cluster, "HealthCheck:Active:Interval", interval, new TcpWatchOptions { Interval = interval }, errors);
        }

        if (active.Timeout is { } timeout)
        {
            settings = settings with { Timeout = timeout };
            Check(cluster, "HealthCheck:Active:Timeout", timeout, new TcpWatchOptions { Timeout = timeout }, errors);
        }

        foreach ((string key, string value) in cluster.Metadata ?? new Dictionary<string, string>())
        {
            if (!key.StartsWith(TcpShakerYarp.MetadataPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (key.Equals(TcpShakerYarp.RiseKey, StringComparison.OrdinalIgnoreCase))
            {
                if (ParseInt(cluster, key, value, errors) is { } rise)
                {
                    settings = settings with { Rise = rise };
                    Check(cluster, $"Metadata:{key}", value, new TcpWatchOptions { Rise = rise }, errors);
                }
            }
            else if (key.Equals(TcpShakerYarp.FallKey, StringComparison.OrdinalIgnoreCase))
            {
                if (ParseInt(cluster, key, value, errors) is { } fall)
                {
                    settings = settings with { Fall = fall };
                    Check(cluster, $"Metadata:{key}", value, new TcpWatchOptions { Fall = fall }, errors);
                }
            }
            else if (key.Equals(TcpShakerYarp.FastIntervalKey, StringComparison.OrdinalIgnoreCase))
            {
                if (ParseTimeSpan(cluster, key, value, errors) is { } fast)
                {
                    settings = settings with { FastInterval = fast };
                    Check(cluster, $"Metadata:{key}", value, new TcpWatchOptions { FastInterval = fast }, errors);
                }
            }
            else if (key.Equals(TcpShakerYarp.DownIntervalKey, StringComparison.OrdinalIgnoreCase))
            {
                if (ParseTimeSpan(cluster, key, value, errors) is { } down)
                {
                    settings = settings with { DownInterval = down };
                    Check(cluster, $"Metadata:{key}", value, new TcpWatchOptions { DownInterval = down }, errors);
                }
            }
            else if (key.Equals(TcpShakerYarp.JitterKey, StringComparison.OrdinalIgnoreCase))
            {
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double jitter))
                {
                    settings = settings with { Jitter = jitter };
                    Check(cluster, $"Metadata:{key}", value, new TcpWatchOptions { Jitter = jitter }, errors);
                }
                else
                {
                    errors.Add($"Cluster '{cluster.ClusterId}': Metadata:{key} is '{value}', not a number (a fraction such as 0.1).");
                }
            }
            else
            {
                errors.Add($"Cluster '{cluster.ClusterId}': Metadata:{key} is not a TcpShaker setting; the settings are {TcpShakerYarp.RiseKey}, {TcpShakerYarp.FallKey}, {TcpShakerYarp.FastIntervalKey}, {TcpShakerYarp.DownIntervalKey} and {TcpShakerYarp.JitterKey}.");
            }
        }

        // Each value was checked alone above, so a problem here can only come from a combination.
        if (errors.Count == before && settings.ToOptions().FirstProblem() is { } problem)
        {
            errors.Add($"Cluster '{cluster.ClusterId}': the TcpShaker health check settings are invalid: {problem}.");
        }

        return errors.Count == before ? settings : null;
    }

    /// <summary>The address a destination is checked at: its <c>Health</c> address when set, else its <c>Address</c>; host and port from the URL.</summary>
    public static TcpEndpoint? CheckEndpoint(string clusterId, string destinationId, DestinationConfig destination, List<string> errors)
    {
        bool health = !string.IsNullOrEmpty(destination.Health);
        string key = health ? "Health" : "Address";
        string? address = health ? destination.Health : destination.Address;
        string where = $"Cluster '{clusterId}', destination '{destinationId}': {key} '{address}'";
        if (string.IsNullOrEmpty(address))
        {
            return null; // YARP's own validator reports a missing address
        }

        if (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri))
        {
            errors.Add($"{where} is not an absolute URL (such as http://10.0.0.5:8080), so it has no host to check.");
            return null;
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            errors.Add($"{where} has no host to check.");
            return null;
        }

        if (uri.Port is < 1 or > 65535)
        {
            errors.Add($"{where} has no port, and its scheme '{uri.Scheme}' has no default one (http is 80, https 443).");
            return null;
        }

        try
        {
            // Uri.Host keeps an IPv6 literal's brackets, which TcpEndpoint's host:port form wants.
            return TcpEndpoint.Parse(string.Create(CultureInfo.InvariantCulture, $"{uri.Host}:{uri.Port}"));
        }
        catch (ArgumentException exception)
        {
            errors.Add($"{where} cannot be checked: {exception.Message}");
            return null;
        }
    }

    private static void Check(ClusterConfig cluster, string key, object value, TcpWatchOptions alone, List<string> errors)
    {
        if (alone.FirstProblem() is { } problem)
        {
            errors.Add($"Cluster '{cluster.ClusterId}': {key} is '{Format(value)}', out of range for TcpShaker health checks: {problem}.");
        }
    }

    private static string Format(object value) => value is TimeSpan span ? span.ToString("c", CultureInfo.InvariantCulture) : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

    private static int? ParseInt(ClusterConfig cluster, string key, string value, List<string> errors)
    {
        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed))
        {
            return parsed;
        }

        errors.Add($"Cluster '{cluster.ClusterId}': Metadata:{key} is '{value}', not a whole number.");
        return null;
    }

    private static TimeSpan? ParseTimeSpan(ClusterConfig cluster, string key, string value, List<string> errors)
    {
        // The format YARP reads its own time spans in ("c": [d.]hh:mm:ss[.fffffff]), so one value reads the same in both places.
        if (TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out TimeSpan parsed))
        {
            return parsed;
        }

        errors.Add($"Cluster '{cluster.ClusterId}': Metadata:{key} is '{value}', not a time span (such as 00:00:00.500).");
        return null;
    }
}
