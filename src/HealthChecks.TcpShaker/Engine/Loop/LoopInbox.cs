using System.Collections.Concurrent;
using System.Threading.Channels;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// What other threads hand a <see cref="CheckLoop"/>: checks to start, cancellations, and the request to
/// stop, each followed by the <see cref="WakeSignal"/> that wakes the loop if it sleeps. The loop takes them
/// on its own thread (it calls in; the inbox never calls the loop back).
/// </summary>
/// <param name="owner">The loop whose inbox this is: a cancellation counts only for an operation queued to it.</param>
/// <param name="wake">The loop's wake-up.</param>
/// <param name="accounting">The engine's accounting, which ends the checks the loop can no longer take.</param>
/// <param name="stoppedException">The loop's stop error.</param>
internal sealed class LoopInbox(CheckLoop owner, WakeSignal wake, CheckAccounting accounting, Func<Exception> stoppedException)
{
    private readonly Channel<CheckOperation> _requests = Channel.CreateUnbounded<CheckOperation>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly ConcurrentQueue<(CheckOperation Operation, short Version)> _cancellations = new();
    private volatile bool _stopping;

    /// <summary>Whether <see cref="Stop"/> was called. Any thread.</summary>
    internal bool Stopping => _stopping;

    /// <summary>Queues a check; one the loop can no longer take is abandoned with the loop's stop error. Any thread.</summary>
    internal void Enqueue(CheckOperation operation)
    {
        if (!_requests.Writer.TryWrite(operation))
        {
            accounting.Abandon(operation, stoppedException());
            return;
        }

        wake.Signal();
    }

    /// <summary>Asks the loop to cancel a check if it still runs <paramref name="version"/>. Any thread (the token's callback).</summary>
    internal void RequestCancellation(CheckOperation operation, short version)
    {
        _cancellations.Enqueue((operation, version));
        wake.Signal();
    }

    /// <summary>Asks the loop to exit. Any thread.</summary>
    internal void Stop()
    {
        _stopping = true;
        wake.Arm();
        wake.Signal();
    }

    /// <summary>
    /// Whether the loop may block: nothing waits here or in <paramref name="loopWork"/> (the loop's own
    /// queues), and the wake-up is armed, so what arrives from now on writes the eventfd. Loop thread.
    /// </summary>
    internal bool TryPrepareToSleep(Func<bool> loopWork)
    {
        if (HasWork() || loopWork())
        {
            return false;
        }

        // Arm the wake-up, then look again: a request queued between the two looks either is seen
        // here or finds the signal armed and writes the eventfd.
        wake.Arm();
        if (HasWork() || loopWork() || _stopping)
        {
            wake.Disarm();
            return false;
        }

        return true;
    }

    /// <summary>Takes the next queued check to start; one canceled while it waited is abandoned on the way. Loop thread.</summary>
    internal bool TryTake([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CheckOperation? operation)
    {
        while (_requests.Reader.TryRead(out operation))
        {
            if (!operation.IsCancellationRequested)
            {
                return true;
            }

            accounting.Abandon(operation, null);
        }

        return false;
    }

    /// <summary>
    /// Takes the next cancellation of a check this loop still holds, and its in-flight slot; a request for a
    /// check already completed, or still queued (its flag is seen when it is taken), is dropped. Loop thread.
    /// </summary>
    internal bool TryTakeCancellation(out int slot)
    {
        while (_cancellations.TryDequeue(out (CheckOperation Operation, short Version) request))
        {
            CheckOperation operation = request.Operation;
            if (operation.Version == request.Version && operation.Loop == owner && operation.Slot >= 0)
            {
                slot = operation.Slot;
                return true;
            }
        }

        slot = -1;
        return false;
    }

    /// <summary>Refuses every later check (abandoned as <see cref="Enqueue"/> says) and abandons those still queued, with the loop's stop error. Loop thread, at exit.</summary>
    internal void Close()
    {
        _requests.Writer.TryComplete();
        while (_requests.Reader.TryRead(out CheckOperation? operation))
        {
            accounting.Abandon(operation, stoppedException());
        }
    }

    private bool HasWork() => _requests.Reader.TryPeek(out _) || !_cancellations.IsEmpty;
}
