using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.Epoll;

/// <summary>The loop's exit: every socket closed, every check completed, the descriptors given back.</summary>
internal sealed unsafe partial class EpollLoop
{
    private Exception StoppedException() => CheckErrors.LoopStopped("checking loop", _fault);


    /// <summary>Closes every socket still open and completes every check still held (loop thread, at exit).</summary>
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
                    Libc.Close(_inFlight[slot].Fd);
                    _accounting.Abandon(Release(slot), StoppedException());
                }
            }

            while (_expiredFds.TryDequeue(out int fd))
            {
                Libc.Close(fd);
            }

            DropLoopActions();
            _watches.Drop(StoppedException());

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
