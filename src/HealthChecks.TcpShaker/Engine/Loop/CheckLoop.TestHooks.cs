using System.Collections.Concurrent;
using System.Diagnostics;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>What tests and fault injection reach into; nothing here runs unless a test posts to it.</summary>
internal sealed partial class CheckLoop
{
    private readonly ConcurrentQueue<Action<CheckLoop>> _loopActions = new();

    private bool HasLoopActions => !_loopActions.IsEmpty;

    /// <summary>Test hook: runs <paramref name="action"/> on the loop thread between two iterations (a sleep here starves the loop).</summary>
    internal void Post(Action<CheckLoop> action)
    {
        _loopActions.Enqueue(action);
        _wake.Signal();
    }

    /// <summary>Test hook: handles <paramref name="token"/> as if epoll had reported it. Loop thread.</summary>
    internal void InjectEvent(ulong token) => _transport.OnEvent(token, Stopwatch.GetTimestamp());

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

        for (int pending = _loopActions.Count; pending > 0 && _loopActions.TryDequeue(out Action<CheckLoop>? action); pending--)
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
