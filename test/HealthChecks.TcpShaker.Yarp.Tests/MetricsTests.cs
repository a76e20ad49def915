using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using HealthChecks.TcpShaker.Yarp.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>
/// YARP's monitor and the shared one are built from one <see cref="IMeterFactory"/>, so they share its meter: the
/// <c>tcpshaker.watches</c> gauge must report each monitor's watches once, and nothing of a monitor disposed.
/// </summary>
public sealed class MetricsTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task Each_monitor_on_the_proxys_meter_has_one_series_per_health_and_a_disposed_one_none()
    {
        await using Backend a = await Backend.StartAsync("a");
        await using Proxy proxy = await Proxy.StartAsync([Clusters.Shaker("one", [("a", a.Address), ("b", a.Address)], Interval, Timeout)]);
        IServiceProvider services = proxy.App.Services;
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        TcpShakerMonitor shared = services.GetRequiredService<TcpShakerMonitor>();
        using TcpWatch watch = shared.Watch($"127.0.0.1:{a.Port}");

        // A third monitor on the same meter, with a watch, then disposed.
        WeakReference disposed = WatchAndDispose(services.GetRequiredService<TcpShaker>(), factory, a.Port);

        var instruments = new List<Instrument>();
        var measurements = new List<(int Value, string Health, string Monitor)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // This proxy's meter only: other tests of this process have meters of the same name.
            if (instrument.Name == "tcpshaker.watches" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                instruments.Add(instrument);
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            string? health = null;
            string? monitor = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "tcpshaker.health")
                {
                    health = (string?)tag.Value;
                }
                else if (tag.Key == "tcpshaker.monitor")
                {
                    monitor = (string?)tag.Value;
                }
            }

            measurements.Add((value, health ?? "(none)", monitor ?? "(none)"));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Instrument gauge = Assert.Single(instruments);
        // Two monitors alive (YARP's, with 2 watches, and the shared one, with 1): each one series per health, no duplicate.
        var byMonitor = measurements.GroupBy(m => m.Monitor).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(2, byMonitor.Count);
        Assert.DoesNotContain("(none)", byMonitor.Keys);
        Assert.All(byMonitor.Values, series => Assert.Equal(["down", "unknown", "up"], series.Select(s => s.Health).Order()));
        Assert.Equal([1, 2], byMonitor.Values.Select(series => series.Sum(s => s.Value)).Order());

        // The disposed monitor is not kept alive by the gauge (its meter, the factory's, lives on).
        for (int i = 0; i < 3 && disposed.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(disposed.IsAlive, "the disposed monitor is still reachable");
        GC.KeepAlive(gauge);
    }

    /// <summary>Synchronous and not inlined, so no local or async state machine of the test keeps the monitor reachable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WatchAndDispose(TcpShaker shaker, IMeterFactory factory, int port)
    {
        var monitor = new TcpShakerMonitor(shaker, null, null, factory);
        TcpWatch watch = monitor.Watch($"127.0.0.1:{port}");
        for (int i = 0; i < 500 && watch.Checks == 0; i++)
        {
            Thread.Sleep(10);
        }

        Assert.True(watch.Checks > 0, "the third monitor checked within 5 s");
        monitor.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return new WeakReference(monitor);
    }
}
