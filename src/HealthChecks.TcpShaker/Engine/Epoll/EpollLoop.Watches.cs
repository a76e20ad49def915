using System.Collections.Concurrent;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>
/// Watches run by the loop: their schedule lives beside the deadlines, so one <c>epoll_wait</c>
/// timeout serves both, and their results go straight into the watch's state on this thread.
/// </summary>
internal sealed unsafe partial class EpollLoop
{
    private readonly ConcurrentQueue<(WatchProbe Probe, TaskCompletionSource? Removed)> _watchCommands = new();
    private readonly WatchSchedule _schedule = new();

    /// <summary>Starts running a watch. Any thread.</summary>
    internal void AddWatch(WatchProbe probe)
    {
        probe.Loop = this;
        _watchCommands.Enqueue((probe, null));
        _wake.Signal();
    }

    /// <summary>Stops running a watch; completes once the loop has let go of it (or has stopped). Any thread.</summary>
    internal Task RemoveWatchAsync(WatchProbe probe)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _watchCommands.Enqueue((probe, removed));
        _wake.Signal();
        return Task.WhenAny(removed.Task, Stopped);
    }

    /// <summary>Puts a probe back on the schedule after its round. Loop thread.</summary>
    internal void Reschedule(WatchProbe probe) => _schedule.Add(probe);

    private void ProcessWatchCommands(long now)
    {
        while (_watchCommands.TryDequeue(out (WatchProbe Probe, TaskCompletionSource? Removed) command))
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
                Libc.Close(_inFlight[probe.Slot].Fd);
                _accounting.Abandon(Release(probe.Slot), null);
            }

            command.Removed.TrySetResult();
        }
    }

    /// <summary>Starts the checks of watches that are due, at most <paramref name="budget"/>; returns how many started.</summary>
    private int StartDueWatchChecks(long now, int budget)
    {
        int started = 0;
        while (started < budget && _schedule.Count > 0 && _schedule.NearestDue <= now)
        {
            WatchProbe probe = _schedule.Nearest;
            _schedule.Remove(probe);
            started++;
            if (!_accounting.TryBegin(probe.EndPoint, out TcpCheckResult refused))
            {
                probe.Complete(refused);
                continue;
            }

            probe.Begin(now);
            StartCheck(probe);
        }

        return started;
    }

    private void DropWatches()
    {
        while (_watchCommands.TryDequeue(out (WatchProbe Probe, TaskCompletionSource? Removed) command))
        {
            command.Removed?.TrySetResult();
        }

        while (_schedule.Count > 0)
        {
            _schedule.Remove(_schedule.Nearest);
        }
    }
}
