using System.Collections.Concurrent;
using System.Diagnostics;
using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Engine.HalfOpen;

/// <summary>What tests and fault injection reach into; nothing here runs unless a test posts to it.</summary>
internal sealed unsafe partial class EpollLoop
{
    private readonly ConcurrentQueue<Action<EpollLoop>> _loopActions = new();

    private bool HasLoopActions => !_loopActions.IsEmpty;

    /// <summary>Test hook: runs <paramref name="action"/> on the loop thread between two iterations.</summary>
    internal void Post(Action<EpollLoop> action)
    {
        _loopActions.Enqueue(action);
        _wake.Signal();
    }

    /// <summary>Test hook: handles <paramref name="token"/> as if epoll had reported it. Loop thread.</summary>
    internal void InjectEvent(ulong token) => OnSocketEvent(token, Stopwatch.GetTimestamp());

    /// <summary>Test hook: the in-flight slots' tokens, in slot order. Loop thread.</summary>
    internal List<ulong> InFlightTokens()
    {
        var tokens = new List<ulong>();
        for (int slot = 0; slot < _inFlight.Capacity; slot++)
        {
            if (_inFlight[slot].Check is not null)
            {
                tokens.Add(InFlightTable.Token(slot, _inFlight[slot].Generation));
            }
        }

        return tokens;
    }

    /// <summary>Test hook: the wake-up signal, to race a wake-up against the shutdown.</summary>
    internal WakeSignal WakeSignalForTest => _wake;

    /// <summary>Runs the actions posted before this pass; one posted meanwhile waits for the next iteration.</summary>
    private void RunLoopActions()
    {
        if (_loopActions.IsEmpty)
        {
            return;
        }

        for (int pending = _loopActions.Count; pending > 0 && _loopActions.TryDequeue(out Action<EpollLoop>? action); pending--)
        {
            action(this);
        }
    }

    private void DropLoopActions()
    {
        while (_loopActions.TryDequeue(out _))
        {
        }
    }
}
