using System.Globalization;
using HealthChecks.TcpShaker.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.HealthCheck;

/// <summary>
/// A health check that checks one or more TCP endpoints through the shared <see cref="TcpShaker"/>.
/// Created per run by the health-check service; holds nothing but its settings. Probes go through the
/// shared <see cref="TcpProbeCoordinator"/>: concurrent runs share one probe per endpoint.
/// </summary>
internal sealed class CheckingHealthCheck(TcpShaker shaker, TcpProbeCoordinator coordinator, TcpShakerCheckOptions options, TcpEndpoint[] endpoints, ILogger logger) : IHealthCheck
{
    /// <summary>Its log category: the type's name before issue 18 renamed it, kept so that log filters users wrote still match.</summary>
    internal const string LogCategory = "HealthChecks.TcpShaker.HealthCheck.TcpShakerHealthCheck";

    /// <summary>
    /// Time left for the report when the registration's own timeout bounds the check: enough that a busy
    /// machine still lets this check (naming the endpoint) answer before the service's generic timeout.
    /// </summary>
    private static readonly TimeSpan ReportMargin = TimeSpan.FromMilliseconds(250);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        TimeSpan timeout = AttemptTimeout(context.Registration.Timeout);
        var checks = new Task<IReadOnlyList<TcpCheckResult>>[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++)
        {
            checks[i] = coordinator.CheckAllAddressesAsync(shaker, endpoints[i], options.AddressFamily, timeout, options.MinimumInterval, cancellationToken);
        }

        IReadOnlyList<TcpCheckResult>[] results = await Task.WhenAll(checks).ConfigureAwait(false);
        string mode = shaker.Mode.ToString();
        var data = new Dictionary<string, object>(endpoints.Length + 2, StringComparer.Ordinal) { ["mode"] = mode };
        if (shaker.ModeReason is { } modeReason)
        {
            data["modeReason"] = modeReason;
        }
        var failures = new List<string>();
        TimeSpan slowest = TimeSpan.Zero;
        for (int i = 0; i < endpoints.Length; i++)
        {
            string target = endpoints[i].ToString();
            data[target] = results[i].Select(r => TcpEndpointReport.From(r, target, mode)).ToArray();
            TcpCheckResult verdict = AddressResults.Combine(results[i], options.RequireAllAddresses);
            if (verdict.IsOpen)
            {
                slowest = verdict.Elapsed > slowest ? verdict.Elapsed : slowest;
            }
            else
            {
                failures.Add(TcpCheckDescriptions.Describe(verdict, Name(verdict, target)));
            }

            if (logger.IsEnabled(LogLevel.Debug))
            {
                Log.CheckResult(logger, context.Registration.Name, target, TcpCheckDescriptions.Describe(verdict, Name(verdict, target)));
            }
        }

        if (failures.Count > 0)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, string.Join("; ", failures), data: data);
        }

        string handshake = slowest.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        if (options.DegradedThreshold is { } threshold && slowest > threshold)
        {
            return HealthCheckResult.Degraded(
                $"All {endpoints.Length} endpoint(s) are open, but the slowest handshake took {handshake} ms (threshold {threshold.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms)",
                data: data);
        }

        return HealthCheckResult.Healthy($"All {endpoints.Length} endpoint(s) are open (slowest handshake {handshake} ms)", data);
    }

    /// <summary>
    /// The registration's timeout, when it has one, bounds the check, with a little margin so this
    /// check (not the service) reports which endpoint timed out; otherwise the options' timeout.
    /// </summary>
    private TimeSpan AttemptTimeout(TimeSpan registrationTimeout)
    {
        if (registrationTimeout == System.Threading.Timeout.InfiniteTimeSpan || registrationTimeout <= TimeSpan.Zero)
        {
            return options.Timeout;
        }

        TimeSpan margin = TimeSpan.FromTicks(Math.Min(ReportMargin.Ticks, registrationTimeout.Ticks / 4));
        TimeSpan bounded = registrationTimeout - margin;
        return bounded < options.Timeout ? bounded : options.Timeout;
    }

    private static string Name(in TcpCheckResult result, string target) =>
        result.RemoteEndPoint is { } address && !string.Equals(address.ToString(), target, StringComparison.Ordinal)
            ? $"{target} ({address})"
            : target;
}
