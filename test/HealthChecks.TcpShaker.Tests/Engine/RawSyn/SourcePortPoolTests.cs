using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Tests.Engine.RawSyn;

/// <summary>
/// Raw SYN mode's source port pool on its own: real reservations (sockets bound in this namespace's
/// ephemeral range, a few hundred at the most), no raw socket, the idle clock moved by hand.
/// </summary>
public sealed class SourcePortPoolTests
{
    private const uint Loopback = 0x7F000001;

    private static DestinationKey V4(uint address, ushort port) => new(address, port, V6: false);

    private static SourcePortPool NewPool(FakeTimeProvider clock)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the pool binds with Linux's libc");
        return new SourcePortPool(dualStack: false, clock);
    }

    [Fact]
    public void Checks_of_different_destinations_share_ports_and_checks_of_one_destination_never_do()
    {
        using var pool = NewPool(new FakeTimeProvider());
        var first = V4(0xC6120001, 80);
        var second = V4(0xC6120002, 80);
        var taken = new List<(DestinationKey Destination, HeldSource Source, int Slot)>();
        for (int i = 0; i < 40; i++)
        {
            DestinationKey destination = i % 2 == 0 ? first : second;
            Assert.Equal(0, pool.TryTake(destination, Loopback, loopbackLanes: false, slot: i, out HeldSource source));
            taken.Add((destination, source, i));
        }

        var firstPorts = taken.Where(t => t.Destination == first).Select(t => t.Source.Port).ToHashSet();
        var secondPorts = taken.Where(t => t.Destination == second).Select(t => t.Source.Port).ToHashSet();
        Assert.Equal(20, firstPorts.Count);
        Assert.Equal(20, secondPorts.Count);
        Assert.NotEmpty(firstPorts.Intersect(secondPorts)); // one port, two destinations, at once
        Assert.Equal(20, pool.Busiest);
        Assert.InRange(pool.Count, 20, (2 * 20) + 32); // the busiest destination's need, not all 40 twice
        foreach ((DestinationKey destination, HeldSource source, int slot) in taken)
        {
            Assert.Equal(slot, pool.FindSlot(new FlowKey(destination, source.Local4, source.Port)));
        }

        Assert.Equal(-1, pool.FindSlot(new FlowKey(V4(0xC6120003, 80), Loopback, taken[0].Source.Port)));
    }

    [Fact]
    public void A_destination_checked_again_and_again_rotates_so_each_4_tuple_rests()
    {
        using var pool = NewPool(new FakeTimeProvider());
        var destination = V4(0xC6120001, 443);
        var ports = new List<ushort>();
        for (int i = 0; i < SourcePortPool.MinimumPorts; i++)
        {
            Assert.Equal(0, pool.TryTake(destination, Loopback, loopbackLanes: false, slot: 0, out HeldSource source));
            ports.Add(source.Port);
            pool.Return(destination, source);
        }

        Assert.Equal(SourcePortPool.MinimumPorts, ports.Distinct().Count());
        Assert.Equal(0, pool.Holding);
        Assert.Equal(0, pool.Busiest);
    }

    [Fact]
    public void Reservations_unused_for_30_s_on_the_clock_are_returned_and_one_in_use_keeps_those_below_it()
    {
        var clock = new FakeTimeProvider();
        using var pool = NewPool(clock);
        var destination = V4(0xC6120001, 80);
        var held = new List<HeldSource>();
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(0, pool.TryTake(destination, Loopback, loopbackLanes: false, slot: i, out HeldSource source));
            held.Add(source);
        }

        int grown = pool.Count;
        Assert.InRange(grown, 200, 200 + 32);
        Assert.Equal(grown, pool.Peak);
        HeldSource top = held.MaxBy(s => s.Reservation);
        foreach (HeldSource source in held.Where(s => s != top))
        {
            pool.Return(destination, source);
        }

        Assert.Equal(1, pool.Busiest);
        clock.Advance(TimeSpan.FromSeconds(29));
        pool.ReturnIdle();
        Assert.Equal(grown, pool.Count);

        // Past 30 s: the reservations above the one still in use go; it and those below it stay.
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(pool.ReturnIdle());
        Assert.Equal(top.Reservation + 1, pool.Count);

        pool.Return(destination, top);
        clock.Advance(TimeSpan.FromSeconds(31));
        pool.ReturnIdle();
        Assert.Equal(0, pool.Count);
        Assert.True(pool.Lowest > pool.Highest, "with nothing reserved the reply filter's span is empty");
        Assert.Null(pool.UntilNextReturn);
    }

    [Fact]
    public void The_limit_is_half_the_ephemeral_range_at_the_most()
    {
        using var pool = NewPool(new FakeTimeProvider());
        (int low, int high) = SourcePortPool.ReadEphemeralRange();
        Assert.InRange(pool.MaxCount, 1, (high - low + 1) / 2);
    }
}
