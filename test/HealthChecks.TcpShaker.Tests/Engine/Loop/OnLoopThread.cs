using HealthChecks.TcpShaker.Engine.Loop;

namespace HealthChecks.TcpShaker.Tests.Engine.Loop;

/// <summary>Runs a test's look at a loop on the loop thread itself, where the loop's tables may be read.</summary>
internal static class OnLoopThread
{
    /// <summary>
    /// The result of <paramref name="action"/> run on <paramref name="loop"/>'s thread, within 5 s. An exception it throws
    /// fails the task, except the fault a test injects on purpose (an <see cref="InvalidOperationException"/> "injected
    /// fault"), which is left to kill the loop.
    /// </summary>
    internal static Task<T> Run<T>(CheckLoop loop, Func<CheckLoop, T> action)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l =>
        {
            try
            {
                result.SetResult(action(l));
            }
            catch (Exception e) when (e is not InvalidOperationException { Message: "injected fault" })
            {
                result.SetException(e);
            }
        });
        return result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
