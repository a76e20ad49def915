namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// The engine's loop faulted again and again, so the engine stopped restarting it: checks fail with this
/// exception from now on (a clear, permanent failure; never silence). Its message names the last fault.
/// </summary>
internal sealed class EngineFaultedException(int faults, TimeSpan window, Exception lastFault)
    : InvalidOperationException(
        $"The TcpShaker engine stopped checking: its loop faulted {faults} times within {window.TotalMinutes:0} minutes (last: {lastFault.GetType().Name}: {lastFault.Message}).",
        lastFault);
