namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>The words a watch gives when it can no longer know (its <see cref="TcpWatch.UnknownReason"/>); one place, so logs, data and docs say the same.</summary>
internal static class WatchStopReasons
{
    /// <summary>The <see cref="TcpShaker"/> under the monitor was disposed.</summary>
    internal const string EngineStopped = "engine stopped";

    /// <summary>Another loop of the engine faulted, and the engine restarts with every loop; the watch carries on there.</summary>
    internal const string EngineRestarting = "engine restarting after a loop fault";

    /// <summary>The loop that ran the watch faulted; the engine restarts it and the watch carries on there.</summary>
    internal static string LoopFaulted(Exception fault) => $"loop faulted: {fault.GetType().Name}: {fault.Message}";

    /// <summary>A round ended in an error the driver did not expect; the next round runs on schedule.</summary>
    internal static string RoundFailed(Exception exception) => $"a round failed: {exception.GetType().Name}: {exception.Message}";

    /// <summary>The watch could not be started in the engine (an error nobody expected); the timer driver retries every round.</summary>
    internal static string AttachFailed(Exception exception) => $"could not start watching: {exception.GetType().Name}: {exception.Message}";

    /// <summary>The engine gave up restarting its loop.</summary>
    internal static string ChecksStopped(Exception exception) => $"checks stopped: {exception.Message}";
}
