using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>The loop's exit: every check completed, the transport closed, the descriptors given back.</summary>
internal sealed partial class CheckLoop
{
    private Exception StoppedException() => CheckErrors.LoopStopped(_stopName, _fault);

    /// <summary>Completes every check still held, closes the transport, and gives back epoll and the eventfd (loop thread, at exit).</summary>
    private void Shutdown()
    {
        try
        {
            _completions.Flush(); // results the loop had when it faulted: delivered first, not lost
            _inbox.Close();
            for (int slot = 0; slot < _inFlight.Capacity; slot++)
            {
                if (_inFlight[slot].Check is not null)
                {
                    _accounting.Abandon(_transport.Release(slot), StoppedException());
                }
            }

            DropLoopActions();
            _watches.Drop(StoppedException());
            _transport.Close();

            // The eventfd closes once no other thread is writing to it; the epoll fd is the loop's alone.
            _wake.Dispose();
            Libc.Close(_epollFd);
            _stopped.TrySetResult();
        }
        catch (Exception exception)
        {
            // This thread is the loop's own: an exception escaping it would end the process. Report it
            // to whoever waits for the loop instead.
            _fault ??= exception;
            _stopped.TrySetException(exception);
        }
    }
}
