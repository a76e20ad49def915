namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>Starting checks within the iteration's budget, ending those canceled or whose watch left, and the slots they hold.</summary>
internal sealed partial class CheckLoop
{
    /// <summary>
    /// Starts the watches that are due, then callers' queued checks, within one iteration's budget: watches
    /// are due at a time, callers' checks wait in order, and neither may take the whole batch.
    /// </summary>
    private void StartChecks(long now)
    {
        int budget = _maxStartsPerIteration;
        int watchChecks = StartDueWatches(now, budget);
        int queued = Math.Max(budget - watchChecks, budget / 2);
        for (int started = 0; started < queued && _inbox.TryTake(out CheckOperation? operation); started++)
        {
            _transport.Start(operation);
        }
    }

    /// <summary>Starts the checks of watches that are due, at most <paramref name="budget"/>; returns how many started (one the in-flight limit refused included).</summary>
    private int StartDueWatches(long now, int budget)
    {
        int started = 0;
        while (started < budget && _watches.TryTakeDue(now, out ScheduledCheck? due))
        {
            started++;
            if (!_accounting.TryBegin(due.EndPoint, out TcpCheckResult refused))
            {
                due.Complete(refused);
                continue;
            }

            due.Begin(now);
            _transport.Start(due);
        }

        _watches.CountStarted(started);
        return started;
    }

    /// <summary>Ends, without a result, each check this loop still holds whose cancellation was asked for.</summary>
    private void ProcessCancellations()
    {
        while (_inbox.TryTakeCancellation(out int slot))
        {
            AbandonInFlight(slot);
        }
    }

    /// <summary>Takes the watches' adds and removes; a removed watch's check in flight is abandoned before its removal completes.</summary>
    private void ProcessWatchCommands(long now)
    {
        while (_watches.TryTakeRemoval(now, out ScheduledCheck? removed, out TaskCompletionSource? done))
        {
            if (removed.Slot >= 0)
            {
                AbandonInFlight(removed.Slot);
            }

            done.TrySetResult();
        }
    }

    /// <summary>Ends the check in <paramref name="slot"/> without a result (canceled, or its watch removed), giving back what it holds.</summary>
    private void AbandonInFlight(int slot) => _accounting.Abandon(_transport.Release(slot), null);

    /// <summary>Takes a check out of the table and the deadline heap; what it holds (socket, source port) is the caller's to give back.</summary>
    internal LoopCheck Remove(int slot)
    {
        _deadlines.Remove(slot);
        LoopCheck check = _inFlight.Remove(slot);
        check.Slot = -1;
        return check;
    }
}
