namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>What these tests add to the shared <see cref="NetNamespace"/>: skipping without root or iptables, and moving an engine's loops in.</summary>
internal static class Namespaces
{
    /// <summary>Skips the calling test (with the reason) when namespaces with iptables rules cannot be made here.</summary>
    internal static void SkipUnlessAvailable()
    {
        string? reason = NetNamespace.SkipReason() ?? (Sh.Which("iptables") is null ? "'iptables' is not installed" : null);
        Assert.SkipWhen(reason is not null, reason ?? string.Empty);
    }

    /// <summary>Moves every loop thread of a started <see cref="TcpShaker"/> into the namespace.</summary>
    internal static async Task JoinLoopsAsync(this NetNamespace ns, TcpShaker shaker)
    {
        await shaker.StartAsync();
        var engine = (global::HealthChecks.TcpShaker.Engine.HalfOpen.HalfOpenEngine)shaker.Engine!;
        var joined = new List<Task>();
        foreach (global::HealthChecks.TcpShaker.Engine.Loop.CheckLoop loop in engine.Loops)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(_ =>
            {
                try
                {
                    ns.JoinOnCurrentThread();
                    done.SetResult();
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
            joined.Add(done.Task);
        }

        await Task.WhenAll(joined).WaitAsync(TimeSpan.FromSeconds(10));
    }
}
