namespace HealthChecks.TcpShaker.Yarp.Tests.Support;

/// <summary>A <see cref="Backend"/>'s <c>/health</c> requests held until <see cref="Release"/> (bounded: 10 s at most).</summary>
internal sealed class HealthHold
{
    private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a request is held.</summary>
    public Task Arrived => _arrived.Task;

    public void Release() => _released.TrySetResult();

    internal async Task WaitAsync()
    {
        _arrived.TrySetResult();
        await _released.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
