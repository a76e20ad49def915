using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// The watches one <see cref="CheckLoop"/> runs, as <see cref="ScheduledCheck"/>s: their add and remove
/// commands from other threads, their schedule, and their drop at shutdown. The loop asks
/// <see cref="NextWake"/> for its sleep, so one <c>epoll_wait</c> timeout serves the watches and the
/// loop's own deadlines, and takes from here the checks due and the removals (it calls in; this never
/// calls the loop back).
/// </summary>
/// <param name="wake">The loop's wake-up, signaled after each command.</param>
/// <param name="loopStopped">Completes when the loop has stopped: a removal waits for nothing more then.</param>
internal sealed class LoopWatches(WakeSignal wake, Task loopStopped)
{
    private static readonly long s_batchTicks = Math.Max(1, Stopwatch.Frequency / 1000);

    private readonly ConcurrentQueue<(ScheduledCheck Check, TaskCompletionSource? Removed)> _commands = new();
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

    /// <summary>Starts running a watch's check. Any thread.</summary>
    internal void Add(ScheduledCheck check)
    {
        check.Watches = this;
        _commands.Enqueue((check, null));
        wake.Signal();
    }

    /// <summary>Stops running a watch's check; completes once the loop has let go of it (or has stopped). Any thread.</summary>
    internal Task RemoveAsync(ScheduledCheck check)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _commands.Enqueue((check, removed));
        wake.Signal();
        return Task.WhenAny(removed.Task, loopStopped);
    }

    /// <summary>Puts a check back on the schedule after its round. Loop thread.</summary>
    internal void Reschedule(ScheduledCheck check) => _schedule.Add(check);

    /// <summary>
    /// Takes the commands queued so far up to the next removal: adds are scheduled here; a removal comes out,
    /// taken off the schedule and marked removed, for the loop to abandon its check in flight (if any) and then
    /// complete <paramref name="done"/>. Loop thread.
    /// </summary>
    internal bool TryTakeRemoval(long now, [NotNullWhen(true)] out ScheduledCheck? removed, [NotNullWhen(true)] out TaskCompletionSource? done)
    {
        while (_commands.TryDequeue(out (ScheduledCheck Check, TaskCompletionSource? Removed) command))
        {
            ScheduledCheck check = command.Check;
            if (command.Removed is null)
            {
                check.Due = check.FirstDue(now);
                _schedule.Add(check);
                continue;
            }

            check.Removed = true;
            if (check.HeapIndex >= 0)
            {
                _schedule.Remove(check);
            }

            removed = check;
            done = command.Removed;
            return true;
        }

        removed = null;
        done = null;
        return false;
    }

    /// <summary>Takes the nearest check due by <paramref name="now"/> off the schedule. Loop thread.</summary>
    internal bool TryTakeDue(long now, [NotNullWhen(true)] out ScheduledCheck? due)
    {
        if (_schedule.Count == 0 || _schedule.NearestDue > now)
        {
            due = null;
            return false;
        }

        due = _schedule.Nearest;
        _schedule.Remove(due);
        return true;
    }

    /// <summary>Counts <paramref name="started"/> more rounds begun (<see cref="ChecksStarted"/>). Loop thread.</summary>
    internal void CountStarted(int started)
    {
        if (started > 0)
        {
            Volatile.Write(ref _checksStarted, _checksStarted + started);
        }
    }

    /// <summary>
    /// Lets go of every watch at the loop's exit: pending removals complete, and every check still running
    /// (scheduled, or added but not yet taken) is abandoned with <paramref name="stopped"/>, so its driver
    /// knows its checks stopped. (Those in flight were abandoned with their slots.) Loop thread, at exit.
    /// </summary>
    internal void Drop(Exception stopped)
    {
        while (_commands.TryDequeue(out (ScheduledCheck Check, TaskCompletionSource? Removed) command))
        {
            if (command.Removed is { } removed)
            {
                command.Check.Removed = true;
                removed.TrySetResult();
            }
            else if (!command.Check.Removed)
            {
                command.Check.Abandon(stopped);
            }
        }

        while (_schedule.Count > 0)
        {
            ScheduledCheck check = _schedule.Nearest;
            _schedule.Remove(check);
            check.Abandon(stopped);
        }
    }
}
