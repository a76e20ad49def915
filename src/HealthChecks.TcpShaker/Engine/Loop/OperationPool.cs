using System.Collections.Concurrent;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>Reuses <see cref="CheckOperation"/> instances; grows to the peak number in flight, then allocates nothing.</summary>
internal sealed class OperationPool
{
    private readonly ConcurrentQueue<CheckOperation> _free = new();

    internal CheckOperation Rent() => _free.TryDequeue(out CheckOperation? operation) ? operation : new CheckOperation(this);

    internal void Return(CheckOperation operation) => _free.Enqueue(operation);
}
