using System.Net;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.RawSyn;

/// <summary>
/// The raw engine's source addresses (IPv4 needs one for the SYN's checksum): a route lookup per
/// destination, kept, so many destinations checked again and again cost no syscall a check. Every
/// 127.x.y.z is local, so <see cref="Destinations"/> distinct targets need no namespace.
/// </summary>
public sealed class RawSynSourceAddressTests
{
    private const int Destinations = 10_000;
    private const int Batch = 500;

    [Fact]
    public async Task Ten_thousand_destinations_checked_again_cause_no_route_lookup_after_warm_up()
    {
        RawSockets.SkipUnlessPermitted();
        var ct = TestContext.Current.CancellationToken;
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
        await shaker.StartAsync(ct);
        Assert.Equal(TcpShakerMode.RawSyn, shaker.Mode);
        RawSynTransport loop = ((RawSynEngine)shaker.Engine!).Transport;
        using var listener = new LoopbackListener(IPAddress.Any); // answers on every 127.x.y.z
        IPEndPoint[] targets = [.. Enumerable.Range(0, Destinations).Select(i => new IPEndPoint(new IPAddress([127, 1, (byte)(i >> 8), (byte)i]), listener.Port))];

        (long before, _) = await OnLoop(loop, l => l.SourceLookups);
        await CheckAllOpenAsync(shaker, targets, ct);
        (long warm, int cached) = await OnLoop(loop, l => l.SourceLookups);

        await CheckAllOpenAsync(shaker, targets, ct);
        await CheckAllOpenAsync(shaker, targets, ct);
        (long after, int cachedAfter) = await OnLoop(loop, l => l.SourceLookups);

        TestContext.Current.TestOutputHelper?.WriteLine($"{Destinations} destinations: {warm - before} lookups warming up ({cached} cached), {after - warm} in the next {2 * Destinations} checks ({cachedAfter} cached)");
        Assert.InRange(warm - before, Destinations, Destinations + 100);
        Assert.Equal(0, after - warm);
        Assert.True(cachedAfter >= Destinations, $"{cachedAfter} cached");
    }

    [Fact]
    public async Task A_destination_checked_every_second_is_looked_up_once_not_every_second()
    {
        RawSockets.SkipUnlessPermitted();
        var ct = TestContext.Current.CancellationToken;
        await using var shaker = new TcpShaker(new TcpShakerOptions { PreferRawSyn = true });
        await shaker.StartAsync(ct);
        RawSynTransport loop = ((RawSynEngine)shaker.Engine!).Transport;
        using var listener = new LoopbackListener(IPAddress.Any);
        var target = new IPEndPoint(IPAddress.Parse("127.3.2.1"), listener.Port);

        await CheckAllOpenAsync(shaker, [target], ct);
        (long first, _) = await OnLoop(loop, l => l.SourceLookups);
        for (int i = 0; i < 3; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1_100), ct);
            await CheckAllOpenAsync(shaker, [target], ct);
        }

        (long after, _) = await OnLoop(loop, l => l.SourceLookups);
        Assert.Equal(0, after - first); // within SourceAddressCache.RefreshAfter, however often it is checked
    }

    /// <summary>Checks every target, <see cref="Batch"/> at a time (bounded in count and time), and asserts each is open.</summary>
    private static async Task CheckAllOpenAsync(TcpShaker shaker, IPEndPoint[] targets, CancellationToken ct)
    {
        foreach (IPEndPoint[] batch in targets.Chunk(Batch))
        {
            TcpCheckResult[] results = await Task.WhenAll(batch.Select(t => shaker.CheckAsync(t, TimeSpan.FromSeconds(5), ct).AsTask())).WaitAsync(TimeSpan.FromSeconds(30), ct);
            Assert.All(results, r => Assert.True(r.Status == TcpCheckStatus.Open, r.Describe()));
        }
    }

    private static async Task<T> OnLoop<T>(RawSynTransport loop, Func<RawSynTransport, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
