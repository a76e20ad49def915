namespace HealthChecks.TcpShaker.Engine;

/// <summary>Counts the checks an engine holds, queued or in flight, against <see cref="TcpShakerOptions.MaxChecksInFlight"/>.</summary>
internal sealed class CheckLimiter(int limit)
{
    private int _count;

    internal int Count => Volatile.Read(ref _count);

    internal bool TryAcquire()
    {
        if (Interlocked.Increment(ref _count) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _count);
        return false;
    }

    internal void Release() => Interlocked.Decrement(ref _count);
}
