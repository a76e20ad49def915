using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Diagnostics;

/// <summary>The library's log messages, source-generated.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "TcpShaker started in {Mode} mode with {LoopCount} loop(s).")]
    internal static partial void Started(ILogger logger, TcpShakerMode mode, int loopCount);

    [LoggerMessage(2, LogLevel.Warning, "TcpShaker falls back to FullConnect mode: {Reason}. The servers checked will see each check as a connection.")]
    internal static partial void FellBackToFullConnect(ILogger logger, string reason);

    [LoggerMessage(3, LogLevel.Warning, "TcpShaker could not verify half-open checking at start ({Reason}); it stays in HalfOpen mode.")]
    internal static partial void VerificationSkipped(ILogger logger, string reason);

    [LoggerMessage(4, LogLevel.Error, "A TcpShaker checking loop failed; the engine restarts in {DelayMs} ms, and the checks it held fail.")]
    internal static partial void LoopFailed(ILogger logger, double delayMs, Exception exception);

    [LoggerMessage(15, LogLevel.Critical, "{Reason} Every check fails from now on.")]
    internal static partial void LoopFailedForGood(ILogger logger, string reason, Exception exception);

    [LoggerMessage(5, LogLevel.Debug, "TCP check of {Target} for {HealthCheck}: {Description}.")]
    internal static partial void CheckResult(ILogger logger, string healthCheck, string target, string description);

    [LoggerMessage(6, LogLevel.Warning, "TcpShaker could not start with the host; checks answer LocalError until it can, and each tries to start it again.")]
    internal static partial void StartFailed(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "{Endpoint} is DOWN: {Reason} ({LastResult}).")]
    internal static partial void WatchDown(ILogger logger, string endpoint, string reason, string lastResult);

    [LoggerMessage(8, LogLevel.Information, "{Endpoint} is UP (was {Previous}): {Reason}.")]
    internal static partial void WatchUp(ILogger logger, string endpoint, TcpTargetHealth previous, string reason);

    [LoggerMessage(16, LogLevel.Warning, "{Endpoint} is UNKNOWN (was {Previous}): {Reason}. Its verdict is no longer served.")]
    internal static partial void WatchUnknown(ILogger logger, string endpoint, TcpTargetHealth previous, string reason);

    [LoggerMessage(17, LogLevel.Error, "A metrics listener failed while recording a change of health of {Endpoint}; the event is still raised.")]
    internal static partial void MonitorInstrumentFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(9, LogLevel.Error, "A HealthChanged handler failed for {Endpoint}; later events are still raised.")]
    internal static partial void HealthChangedHandlerFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "TcpShaker does not use RawSyn mode, which TcpShakerOptions.PreferRawSyn asks for: {Reason}. It checks with sockets instead.")]
    internal static partial void RawSynUnavailable(ILogger logger, string reason);

    [LoggerMessage(11, LogLevel.Warning, "TcpShaker could not raise its loop threads' priority, which TcpShakerOptions.RaiseLoopPriority asks for (errno {Errno}: CAP_SYS_NICE is needed); they run at normal priority.")]
    internal static partial void PriorityRefused(ILogger logger, int errno);
}
