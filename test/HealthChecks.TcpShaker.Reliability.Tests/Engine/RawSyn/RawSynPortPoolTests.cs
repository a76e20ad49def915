using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.RawSyn;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine.RawSyn;

/// <summary>
/// Raw SYN mode's source ports never starve the host (issue 17). Each test runs its engine inside a network
/// namespace of its own whose ephemeral range is 5,001 ports (<see cref="RangeLow"/> to <see cref="RangeHigh"/>),
/// with a silent destination on an address of the namespace's own (198.18.0.1 on its loopback device, not a
/// 127/8 address, so no loopback lane multiplies the sources): what the pool takes is what the namespace's
/// other sockets lose, and ordinary <c>connect()</c>s and a bind to port 0 there show it. Idle time is a
/// <see cref="FakeTimeProvider"/>, moved by the test.
/// </summary>
public sealed class RawSynPortPoolTests
{
    private const int RangeLow = 40000;
    private const int RangeHigh = 45000;
    private const int Connects = 200;
    private static readonly IPAddress Silent = IPAddress.Parse("198.18.0.1");
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_raw_burst_in_a_narrow_ephemeral_range_leaves_the_host_connecting_and_idle_ports_return()
    {
        using Setup setup = Setup.Create();
        RawSynTransport loop = setup.Engine.Transport;
        var ct = TestContext.Current.CancellationToken;
        const int burst = 4_000;

        var checks = Enumerable.Range(0, burst).Select(_ => setup.Engine.CheckAsync(new IPEndPoint(Silent, 7201), CheckTimeout, ct).AsTask()).ToArray();
        await WaitUntilAsync(loop, l => l.ChecksInFlight + checks.Count(c => c.IsCompleted) == burst);
        (int held, _, _) = await OnLoop(loop, l => l.ReservedPorts);
        var during = setup.ConnectInside(Connects);
        var results = await Task.WhenAll(checks);
        var after = setup.ConnectInside(Connects);
        (int peak, int max) = await OnLoop(loop, l => l.ReservedPortLimits);

        int timedOut = results.Count(r => r.Status == TcpCheckStatus.Timeout);
        var refused = results.Where(r => r.Status != TcpCheckStatus.Timeout).ToArray();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"range {RangeHigh - RangeLow + 1} ports, {burst} silent checks of one destination: {held} ports reserved (peak {peak}, limit {max}), " +
            $"{timedOut} timed out, {refused.Length} refused by the pool; connects during the burst {during.Connected}/{Connects} (bind to port 0: {during.BoundPortZero}), after {after.Connected}/{Connects} (bind: {after.BoundPortZero}); {during.FirstError}{after.FirstError}");
        Assert.Equal(Connects, during.Connected);
        Assert.True(during.BoundPortZero, "a bind to port 0 failed during the burst");
        Assert.Equal(Connects, after.Connected);
        Assert.True(after.BoundPortZero, "a bind to port 0 failed after the burst");
        Assert.InRange(peak, 1, (RangeHigh - RangeLow + 1) / 2);
        Assert.Equal((RangeHigh - RangeLow + 1) / 2, max);
        Assert.Equal(max, timedOut); // each port once for the one destination
        Assert.All(refused, r =>
        {
            Assert.Equal(TcpCheckStatus.LocalError, r.Status);
            Assert.Equal(TcpCheckErrorKind.SourcePortLimit, r.ErrorKind);
            Assert.Contains("no source port left for this destination", r.Describe(), StringComparison.Ordinal);
        });

        // Idle time runs on the clock, not the wall: nothing returns until the clock has moved 30 s.
        Assert.Equal(held, (await OnLoop(loop, l => l.ReservedPorts)).Count);
        setup.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(held, (await OnLoop(loop, l => l.ReservedPorts)).Count);
        setup.Clock.Advance(TimeSpan.FromSeconds(2));
        (int left, int lowest, int highest) = await OnLoop(loop, l => l.ReservedPorts);
        TestContext.Current.TestOutputHelper?.WriteLine($"idle 31 s on the clock: {left} ports reserved ({lowest}-{highest})");
        Assert.Equal(0, left);

        // And the pool serves again, from the ports it gave back.
        using var listener = setup.ListenInside();
        var open = await setup.Engine.CheckAsync(listener.EndPoint, CheckTimeout, ct);
        Assert.Equal(TcpCheckStatus.Open, open.Status);
    }

    [Fact]
    public async Task A_source_port_serves_many_destinations_at_once_so_the_pool_follows_the_busiest_one()
    {
        using Setup setup = Setup.Create();
        RawSynTransport loop = setup.Engine.Transport;
        var ct = TestContext.Current.CancellationToken;
        const int destinations = 10;
        const int each = 100;
        using var listener = setup.ListenInside();

        var checks = Enumerable.Range(0, destinations * each)
            .Select(i => setup.Engine.CheckAsync(new IPEndPoint(Silent, 7201 + (i % destinations)), CheckTimeout, ct).AsTask())
            .ToArray();
        await WaitUntilAsync(loop, l => l.ChecksInFlight == checks.Length);
        var open = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => setup.Engine.CheckAsync(listener.EndPoint, CheckTimeout, ct).AsTask()));
        (int held, _, _) = await OnLoop(loop, l => l.ReservedPorts);
        var results = await Task.WhenAll(checks);
        (int peak, _) = await OnLoop(loop, l => l.ReservedPortLimits);

        TestContext.Current.TestOutputHelper?.WriteLine($"{destinations} destinations x {each} silent checks in flight: {held} ports reserved (peak {peak})");
        Assert.All(results, r => Assert.True(r.Status == TcpCheckStatus.Timeout, r.Describe()));
        Assert.All(open, r => Assert.True(r.Status == TcpCheckStatus.Open, r.Describe()));
        Assert.False(listener.HasPendingConnection);
        Assert.Equal(0, await OnLoop(loop, l => l.UnmatchedReplies));

        // Twice the busiest destination's checks (rounded up to the growth step), not twice all 1,000.
        Assert.InRange(peak, each, (2 * (each + 1)) + 32);
    }

    /// <summary>The namespace (narrow range, the silent address, its DROP rule), the clock, and the engine inside.</summary>
    private sealed class Setup : IDisposable
    {
        private readonly LoopbackListener _connectTarget;

        private Setup(NetNamespace ns, LoopbackListener connectTarget, FakeTimeProvider clock, RawSynEngine engine)
        {
            Namespace = ns;
            _connectTarget = connectTarget;
            Clock = clock;
            Engine = engine;
        }

        internal NetNamespace Namespace { get; }

        internal FakeTimeProvider Clock { get; }

        internal RawSynEngine Engine { get; }

        internal static Setup Create()
        {
            Namespaces.SkipUnlessAvailable();
            RawSockets.SkipUnlessPermitted();
            string? sysctl = Sh.Which("sysctl");
            Assert.SkipWhen(sysctl is null, "'sysctl' (procps) is not installed");
            var ns = NetNamespace.Create();
            try
            {
                ns.Exec(sysctl!, "-w", $"net.ipv4.ip_local_port_range={RangeLow} {RangeHigh}");
                ns.Exec(Sh.Which("ip")!, "addr", "add", Silent + "/32", "dev", "lo");
                ns.Iptables("-A", "INPUT", "-p", "tcp", "--syn", "-d", Silent.ToString(), "--dport", "7201:7210", "-j", "DROP");
                // Bound before the engine starts: when the pool takes the range, the connects below fail, not this.
                LoopbackListener connectTarget = ns.RunInside(() => new LoopbackListener(IPAddress.Loopback));
                var clock = new FakeTimeProvider();
                RawSynEngine engine = ns.RunInside(() => new RawSynEngine(new TcpShakerOptions(), new TcpShakerMetrics(null), clock));
                return new Setup(ns, connectTarget, clock, engine);
            }
            catch
            {
                ns.Dispose();
                throw;
            }
        }

        /// <summary>
        /// A listener to check, on a port outside the ephemeral range: the kernel's RSTs to it (after each SYN-ACK)
        /// then never pass the reply filter, whose span covers reserved ports and whatever lies between them.
        /// </summary>
        internal LoopbackListener ListenInside() => Namespace.RunInside(() => new LoopbackListener(IPAddress.Loopback, port: 7300));

        /// <summary>
        /// Ordinary sockets inside the namespace, as any other process there would open them: <paramref name="count"/>
        /// connects to a listener, all held at once, and a bind to port 0; both draw on the ephemeral range.
        /// </summary>
        internal (int Connected, bool BoundPortZero, string FirstError) ConnectInside(int count) => Namespace.RunInside(() =>
        {
            var sockets = new List<Socket>();
            string firstError = string.Empty;
            try
            {
                for (int i = 0; i < count; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { LingerState = new LingerOption(true, 0) };
                    sockets.Add(socket);
                    try
                    {
                        socket.Connect(_connectTarget.EndPoint);
                    }
                    catch (SocketException e)
                    {
                        firstError = firstError.Length == 0 ? $" first connect error: {e.SocketErrorCode}." : firstError;
                    }
                }

                using var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                bool boundPortZero = true;
                try
                {
                    bound.Bind(new IPEndPoint(IPAddress.Any, 0));
                }
                catch (SocketException e)
                {
                    boundPortZero = false;
                    firstError += $" bind to port 0: {e.SocketErrorCode}.";
                }

                return (sockets.Count(s => s.Connected), boundPortZero, firstError);
            }
            finally
            {
                sockets.ForEach(s => s.Dispose());
            }
        });

        public void Dispose()
        {
            Engine.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
            _connectTarget.Dispose();
            Namespace.Dispose();
        }
    }

    private static async Task WaitUntilAsync(RawSynTransport loop, Func<RawSynTransport, bool> condition)
    {
        for (int i = 0; i < 100 && !await OnLoop(loop, condition); i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.True(await OnLoop(loop, condition), "the loop did not reach the state the test needs within 2 s");
    }

    private static async Task<T> OnLoop<T>(RawSynTransport loop, Func<RawSynTransport, T> read)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(l => result.SetResult(read(l)));
        return await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
