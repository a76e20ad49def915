using System.Globalization;
using HealthChecks.TcpShaker.Hosting;
using HealthChecks.TcpShaker.Monitoring;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.HealthCheck;

/// <summary>
/// A health check of watched endpoints (<see cref="TcpShakerCheckOptions.Watch"/>): it answers from the
/// watches' state at once and probes nothing, however often it runs. Created per run; holds nothing but its settings.
/// </summary>
internal sealed class WatchedHealthCheck(WatchedCheckRegistry watched, TcpShaker shaker, TcpShakerCheckOptions options, TcpEndpoint[] endpoints) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        string name = context.Registration.Name;
        TcpWatch[]? watches = watched.WatchesOf(name);
        if (watches is null)
        {
            return Task.FromResult(new HealthCheckResult(
                options.UnknownStatus ?? context.Registration.FailureStatus,
                $"The TCP health check '{name}' has not started watching yet: its watches start once the host has started."));
        }

        string mode = shaker.Mode.ToString();
        var data = new Dictionary<string, object>(endpoints.Length + 2, StringComparer.Ordinal) { ["mode"] = mode };
        if (shaker.ModeReason is { } modeReason)
        {
            data["modeReason"] = modeReason;
        }
        var down = new List<string>();
        var unknown = new List<string>();
        bool stopped = false;
        TimeSpan slowest = TimeSpan.Zero;
        foreach (TcpWatch watch in watches)
        {
            // One read per watch: its health, reason, report and sentence come from the same instant.
            WatchState state = watch.Read();
            data[watch.Endpoint.ToString()] = Report(watch, state, mode);
            switch (state.Health)
            {
                case TcpTargetHealth.Down:
                    down.Add(state.Description);
                    break;
                case TcpTargetHealth.Unknown:
                    unknown.Add(state.Description);
                    stopped |= state.UnknownReason is not null;
                    break;
                default:
                    if (state.LastResult is { IsOpen: true } last && last.Elapsed > slowest)
                    {
                        slowest = last.Elapsed;
                    }

                    break;
            }
        }

        if (down.Count > 0 || stopped)
        {
            // A watch that can no longer check is no reason to wait: it reports failure, naming why.
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, string.Join("; ", down.Concat(unknown)), data: data));
        }

        if (unknown.Count > 0)
        {
            return Task.FromResult(new HealthCheckResult(options.UnknownStatus ?? context.Registration.FailureStatus, string.Join("; ", unknown), data: data));
        }

        string handshake = slowest.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        if (options.DegradedThreshold is { } threshold && slowest > threshold)
        {
            return Task.FromResult(HealthCheckResult.Degraded(
                $"All {watches.Length} endpoint(s) are up, but the slowest last handshake took {handshake} ms (threshold {threshold.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms)",
                data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"All {watches.Length} endpoint(s) are up (slowest last handshake {handshake} ms)", data));
    }

    private static TcpWatchReport Report(TcpWatch watch, WatchState state, string mode) => new()
    {
        Health = state.Health.ToString(),
        UnknownReason = state.UnknownReason,
        Since = state.Since,
        ConsecutiveSuccesses = state.ConsecutiveSuccesses,
        ConsecutiveFailures = state.ConsecutiveFailures,
        Checks = state.Checks,
        LastResult = state.LastResult is { } result ? TcpEndpointReport.From(result, watch.Endpoint.ToString(), mode) : null,
        Recent = watch.RecentResults,
    };
}
