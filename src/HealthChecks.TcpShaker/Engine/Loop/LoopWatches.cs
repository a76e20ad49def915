using System.Collections.Concurrent;
using System.Diagnostics;
using HealthChecks.TcpShaker.Monitoring;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// The watches one loop runs (half-open or raw SYN): their add and remove commands from other threads,
/// their schedule, the starting of those due, and their drop at shutdown. The loop asks
/// <see cref="NextWake"/> for its sleep, so one <c>epoll_wait</c> timeout serves the watches and the
/// loop's own deadlines; the results go straight into each watch's state on the loop thread.
/// </summary>
internal sealed class LoopWatches(ICheckLoop loop, CheckAccounting accounting, WakeSignal wake, Task loopStopped)
{
    private static readonly long s_batchTicks = Math.Max(1, Stopwatch.Frequency / 1000);

    private readonly ConcurrentQueue<(WatchProbe Probe, TaskCompletionSource? Removed)> _commands = new();
    private readonly WatchSchedule _schedule = new();
    private long _checksStarted;

    /// <summary>Whether an add or remove waits for the loop. Any thread.</summary>
    internal bool HasCommands => !_commands.IsEmpty;

    /// <summary>Rounds of watches this loop has begun so far (one the in-flight limit refused included). Any thread.</summary>
    internal long ChecksStarted => Volatile.Read(ref _checksStarted);

    /// <summary>
    /// When the loop should wake for the nearest due watch (<see cref="long.MaxValue"/>: none), in
    /// <see cref="Stopwatch"/> ticks: the next whole millisecond of that clock. 10,000 watches a second
    /// are due some 100 µs apart; waking for each alone costs a sleep and a context switch per check
    /// (29.6 against 21.3 µs of CPU a check, docs/benchmarks.md), while waking once a millisecond starts
    /// them in batches, as HAProxy's and the C reference's millisecond timers do. A check starts at most
    /// 1 ms after its place; the schedule itself stays put. Loop thread.
    /// </summary>
    internal long NextWake => _schedule.Count == 0
        ? long.MaxValue
        : (_schedule.NearestDue + s_batchTicks - 1) / s_batchTicks * s_batchTicks;

    /// <summary>Starts running a watch. Any thread.</summary>
    internal void Add(WatchProbe probe)
    {
        probe.Watches = this;
        _commands.Enqueue((probe, null));
        wake.Signal();
    }

    /// <summary>Stops running a watch; completes once the loop has let go of it (or has stopped). Any thread.</summary>
    internal Task RemoveAsync(WatchProbe probe)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _commands.Enqueue((probe, removed));
        wake.Signal();
        return Task.WhenAny(removed.Task, loopStopped);
    }

    /// <summary>Puts a probe back on the schedule after its round. Loop thread.</summary>
    internal void Reschedule(WatchProbe probe) => _schedule.Add(probe);

    /// <summary>Takes the adds and removes queued so far; a removed watch's check in flight is abandoned. Loop thread.</summary>
    internal void ProcessCommands(long now)
    {
        while (_commands.TryDequeue(out (WatchProbe Probe, TaskCompletionSource? Removed) command))
        {
            WatchProbe probe = command.Probe;
            if (command.Removed is null)
            {
                probe.Due = probe.Watch.ScheduleFirst(now);
                _schedule.Add(probe);
                continue;
            }

            probe.Removed = true;
            if (probe.HeapIndex >= 0)
            {
                _schedule.Remove(probe);
            }

            if (probe.Slot >= 0)
            {
                loop.AbandonInFlight(probe.Slot);
            }

            command.Removed.TrySetResult();
        }
    }

    /// <summary>Starts the checks of watches that are due, at most <paramref name="budget"/>; returns how many started. Loop thread.</summary>
    internal int StartDue(long now, int budget)
    {
        int started = 0;
        while (started < budget && _schedule.Count > 0 && _schedule.NearestDue <= now)
        {
            WatchProbe probe = _schedule.Nearest;
            _schedule.Remove(probe);
            started++;
            if (!accounting.TryBegin(probe.EndPoint, out TcpCheckResult refused))
            {
                probe.Complete(refused);
                continue;
            }

            probe.Begin(now);
            loop.Start(probe);
        }

        if (started > 0)
        {
            Volatile.Write(ref _checksStarted, _checksStarted + started);
        }

        return started;
    }

    /// <summary>
    /// Lets go of every watch at the loop's exit: pending removals complete, and every watch still running
    /// (scheduled, or added but not yet taken) is abandoned with <paramref name="stopped"/>, so its driver
    /// knows its checks stopped. (Those in flight were abandoned with their slots.) Loop thread, at exit.
    /// </summary>
    internal void Drop(Exception stopped)
    {
        while (_commands.TryDequeue(out (WatchProbe Probe, TaskCompletionSource? Removed) command))
        {
            if (command.Removed is { } removed)
            {
                command.Probe.Removed = true;
                removed.TrySetResult();
            }
            else if (!command.Probe.Removed)
            {
                command.Probe.Abandon(stopped);
            }
        }

        while (_schedule.Count > 0)
        {
            WatchProbe probe = _schedule.Nearest;
            _schedule.Remove(probe);
            probe.Abandon(stopped);
        }
    }
}
