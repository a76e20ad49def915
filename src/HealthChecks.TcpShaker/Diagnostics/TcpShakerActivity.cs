using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>
/// The <see cref="ActivitySource"/> behind a span per check (<c>tcpshaker.check</c>, kind Client), and the
/// span's tags, named after OpenTelemetry's semantic conventions: <c>server.address</c>, <c>server.port</c>,
/// <c>network.transport</c>, <c>network.type</c>, <c>error.type</c>, plus <c>tcpshaker.mode</c> and
/// <c>tcpshaker.status</c>. It costs one check of <see cref="ActivitySource.HasListeners"/> when nobody listens.
/// </summary>
internal static class TcpShakerActivity
{
    internal const string CheckSpanName = "tcpshaker.check";

    internal static readonly ActivitySource Source = new(TcpShakerMetrics.MeterName);

    /// <summary>Starts a check's span, or returns <see langword="null"/> when no listener samples it.</summary>
    internal static Activity? StartCheck(IPEndPoint endPoint)
    {
        Activity? activity = Source.StartActivity(CheckSpanName, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("server.address", endPoint.Address.ToString());
            activity.SetTag("server.port", endPoint.Port);
            activity.SetTag("network.transport", "tcp");
            activity.SetTag("network.type", endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4");
        }

        return activity;
    }

    /// <summary>Records the outcome: a check that did not find the port open is an error span, <c>error.type</c> its status.</summary>
    internal static void Complete(Activity? activity, TcpShakerMode mode, in TcpCheckResult result)
    {
        if (activity is null)
        {
            return;
        }

        string status = TcpShakerMetrics.ToTag(result.Status);
        activity.SetTag("tcpshaker.mode", TcpShakerMetrics.ToTag(mode));
        activity.SetTag("tcpshaker.status", status);
        if (!result.IsOpen)
        {
            activity.SetTag("error.type", status);
            activity.SetStatus(ActivityStatusCode.Error, result.Describe());
        }
    }

    /// <summary>Marks a check that ended without a result (canceled, engine stopped); returns false for use in an exception filter.</summary>
    internal static bool Fail(Activity? activity, Exception exception)
    {
        if (activity is not null)
        {
            activity.SetTag("error.type", exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        }

        return false;
    }
}
