using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>Stopping the proxy disposes the integration once, and the monitor it decorates (when it owns it) once.</summary>
public sealed class DisposeTests
{
    [Fact]
    public async Task Stopping_the_proxy_disposes_the_decorated_monitor_once()
    {
        await using Backend a = await Backend.StartAsync("a");
        var disposals = new DisposeCounter();
        Proxy proxy = await Proxy.StartAsync(
            [Clusters.Shaker("one", [("a", a.Address)], TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500))],
            builder =>
            {
                // A monitor registered by type before YARP's: the integration builds it, so it disposes it.
                builder.Services.AddSingleton(disposals);
                builder.Services.AddSingleton<IActiveHealthCheckMonitor, CountingMonitor>();
            });
        Assert.IsType<CountingMonitor>(proxy.Monitor.Inner);
        TcpWatch watch = proxy.Monitor.Watches["one"]["a"];

        await proxy.DisposeAsync();

        Assert.Equal(1, disposals.Count);
        Assert.True(watch.IsDisposed);
    }

    /// <summary>Counts the disposals of <see cref="CountingMonitor"/>.</summary>
    internal sealed class DisposeCounter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Add() => Interlocked.Increment(ref _count);
    }

    /// <summary>A monitor with nothing to probe that counts how often it is disposed.</summary>
    internal sealed class CountingMonitor(DisposeCounter disposals) : IActiveHealthCheckMonitor, IDisposable
    {
        public bool InitialProbeCompleted => true;

        public Task CheckHealthAsync(IEnumerable<ClusterState> clusters) => Task.CompletedTask;

        public void Dispose() => disposals.Add();
    }
}
