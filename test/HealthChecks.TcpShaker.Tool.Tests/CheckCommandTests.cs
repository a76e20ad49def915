using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

public sealed class CheckCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Open_target_exits_0_with_a_line_and_the_mode()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["check", listener.EndPoint.ToString()], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("tcp-shaker check: mode HalfOpen, timeout 1s", run.Out, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^OPEN +{Regex(listener.EndPoint)} +{Regex(listener.EndPoint)} +\d+\.\d{{3}} ms$", run.Out);
        Assert.Contains("1 of 1 targets open", run.Out, StringComparison.Ordinal);
        Assert.Empty(run.Error);
        Assert.False(listener.HasPendingConnection, "a half-open check must not leave a connection to accept");
    }

    [Fact]
    public async Task Open_target_as_json()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["check", listener.EndPoint.ToString(), "--json", "--timeout", "2s"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        JsonElement json = run.Json;
        Assert.Equal("HalfOpen", json.GetProperty("mode").GetString());
        Assert.Equal(2000, json.GetProperty("timeoutMs").GetDouble());
        Assert.True(json.GetProperty("ok").GetBoolean());
        JsonElement target = Assert.Single(json.GetProperty("targets").EnumerateArray());
        Assert.Equal(listener.EndPoint.ToString(), target.GetProperty("target").GetString());
        JsonElement address = Assert.Single(target.GetProperty("addresses").EnumerateArray());
        Assert.Equal("Open", address.GetProperty("status").GetString());
        Assert.Equal(listener.EndPoint.ToString(), address.GetProperty("address").GetString());
        Assert.InRange(address.GetProperty("elapsedMs").GetDouble(), 0, 2000);
    }

    [Fact]
    public async Task Refused_target_exits_1()
    {
        using var closed = new ClosedPort();

        ToolRun run = await ToolRunner.RunAsync(["check", closed.EndPoint.ToString(), "--json"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.False(run.Json.GetProperty("ok").GetBoolean());
        JsonElement address = run.Json.GetProperty("targets")[0].GetProperty("addresses")[0];
        Assert.Equal("Refused", address.GetProperty("status").GetString());
        Assert.Equal($"{closed.EndPoint} refused the connection", address.GetProperty("description").GetString());
    }

    [Fact]
    public async Task Silent_target_times_out_and_exits_1()
    {
        using var silent = new SilentTarget();

        ToolRun run = await ToolRunner.RunAsync(["check", silent.EndPoint.ToString(), "--timeout", "300ms"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("timeout 300ms", run.Out, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^TIMEOUT +{Regex(silent.EndPoint)} ", run.Out);
        Assert.Contains($"1 of 1 targets not open: {silent.EndPoint}", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task Mixed_targets_are_checked_at_once_and_exit_1()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();
        using var silent = new SilentTarget();

        var started = System.Diagnostics.Stopwatch.StartNew();
        ToolRun run = await ToolRunner.RunAsync(
            ["check", listener.EndPoint.ToString(), closed.EndPoint.ToString(), silent.EndPoint.ToString(), "--timeout", "500ms", "--json"],
            cancellationToken: Ct);
        TimeSpan took = started.Elapsed;

        Assert.True(run.ExitCode == 1, run.ToString());
        JsonElement[] targets = [.. run.Json.GetProperty("targets").EnumerateArray()];
        Assert.Equal(["Open", "Refused", "Timeout"], targets.Select(t => t.GetProperty("addresses")[0].GetProperty("status").GetString()));
        Assert.Equal([true, false, false], targets.Select(t => t.GetProperty("ok").GetBoolean()));
        // Concurrent: one timeout's worth, not the sum (a generous bound, not a performance assertion).
        Assert.True(took < TimeSpan.FromSeconds(5), $"took {took}");
    }

    [Fact]
    public async Task Quiet_writes_nothing_when_all_are_open_and_everything_when_not()
    {
        using var listener = new LoopbackListener();
        using var closed = new ClosedPort();

        ToolRun ok = await ToolRunner.RunAsync(["check", "-q", listener.EndPoint.ToString()], cancellationToken: Ct);
        ToolRun failed = await ToolRunner.RunAsync(["check", "--quiet", listener.EndPoint.ToString(), closed.EndPoint.ToString()], cancellationToken: Ct);

        Assert.Equal(0, ok.ExitCode);
        Assert.Empty(ok.Out);
        Assert.Empty(ok.Error);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("mode HalfOpen", failed.Out, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^REFUSED +{Regex(closed.EndPoint)}", failed.Out);
    }

    [Fact]
    public async Task Full_connect_mode_is_shown_and_the_server_sees_the_connection()
    {
        using var listener = new LoopbackListener();

        ToolRun run = await ToolRunner.RunAsync(["check", listener.EndPoint.ToString(), "--full-connect", "--json"], cancellationToken: Ct);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("FullConnect", run.Json.GetProperty("mode").GetString());
        Assert.Equal(1, listener.DrainAcceptQueue());
    }

    [Fact]
    public async Task Ipv6_literal_is_shown_in_brackets_also_on_a_terminal()
    {
        LoopbackListener listener;
        try
        {
            listener = new LoopbackListener(IPAddress.IPv6Loopback);
        }
        catch (SocketException e)
        {
            Assert.Skip($"no IPv6 loopback here: {e.SocketErrorCode}");
            return;
        }

        using (listener)
        {
            string target = $"[::1]:{listener.Port}";
            ToolRun plain = await ToolRunner.RunAsync(["check", target], cancellationToken: Ct);
            ToolRun terminal = await ToolRunner.RunAsync(["check", target], terminal: true, cancellationToken: Ct);

            Assert.True(plain.ExitCode == 0, plain.ToString());
            Assert.Matches($@"(?m)^OPEN +\[::1\]:{listener.Port} +\[::1\]:{listener.Port} ", plain.Out);
            Assert.True(terminal.ExitCode == 0, terminal.ToString());
            Assert.Contains($"[::1]:{listener.Port}", terminal.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_host_name_shows_each_address_it_resolves_to()
    {
        IPAddress[] addresses = await Dns.GetHostAddressesAsync("localhost", Ct);
        Assert.SkipWhen(addresses.Length == 0, "localhost resolves to nothing here");
        using var listeners = new ListenersOnOnePort(addresses);

        ToolRun any = await ToolRunner.RunAsync(["check", $"localhost:{listeners.Port}", "--json"], cancellationToken: Ct);
        ToolRun all = await ToolRunner.RunAsync(["check", $"localhost:{listeners.Port}", "--json", "--all-addresses"], cancellationToken: Ct);

        Assert.True(any.ExitCode == 0, any.ToString());
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.True(all.Json.GetProperty("requireAllAddresses").GetBoolean());
        JsonElement target = Assert.Single(any.Json.GetProperty("targets").EnumerateArray());
        Assert.Equal($"localhost:{listeners.Port}", target.GetProperty("target").GetString());
        string[] shown = [.. target.GetProperty("addresses").EnumerateArray().Select(a => a.GetProperty("address").GetString()!)];
        Assert.Equal(addresses.Select(a => new IPEndPoint(a, listeners.Port).ToString()).Order(), shown.Order());
        Assert.All(target.GetProperty("addresses").EnumerateArray(), a => Assert.Equal("Open", a.GetProperty("status").GetString()));
    }

    [Fact]
    public void Any_or_all_addresses_verdict()
    {
        var open = new TcpCheckResult(TcpCheckStatus.Open, TimeSpan.FromMilliseconds(1), new IPEndPoint(IPAddress.Loopback, 1), 0);
        var refused = open with { Status = TcpCheckStatus.Refused };

        Assert.True(TargetChecks.IsOpen([refused, open], requireAllAddresses: false));
        Assert.False(TargetChecks.IsOpen([refused, open], requireAllAddresses: true));
        Assert.True(TargetChecks.IsOpen([open, open], requireAllAddresses: true));
        Assert.False(TargetChecks.IsOpen([refused], requireAllAddresses: false));
        Assert.False(TargetChecks.IsOpen([], requireAllAddresses: false));
    }

    [Fact]
    public async Task Cancellation_stops_a_check_with_exit_130()
    {
        using var silent = new SilentTarget();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(200));

        ToolRun run = await ToolRunner.RunAsync(["check", silent.EndPoint.ToString(), "--timeout", "1m"], cancellationToken: cts.Token);

        Assert.Equal(130, run.ExitCode);
        Assert.Contains("interrupted", run.Error, StringComparison.Ordinal);
    }

    internal static string Regex(IPEndPoint endPoint) => System.Text.RegularExpressions.Regex.Escape(endPoint.ToString());

    /// <summary>A never-accepting listener on each address, all on one port.</summary>
    private sealed class ListenersOnOnePort : IDisposable
    {
        private readonly List<Socket> _sockets = [];

        public ListenersOnOnePort(IPAddress[] addresses)
        {
            for (int attempt = 0; attempt < 20; attempt++)
            {
                int port;
                using (var probe = new LoopbackListener(addresses[0], backlog: 1))
                {
                    port = probe.Port;
                }

                try
                {
                    foreach (IPAddress address in addresses)
                    {
                        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                        _sockets.Add(socket);
                        if (address.AddressFamily == AddressFamily.InterNetworkV6)
                        {
                            socket.DualMode = false;
                        }

                        socket.Bind(new IPEndPoint(address, port));
                        socket.Listen(64);
                    }

                    Port = port;
                    return;
                }
                catch (SocketException)
                {
                    Dispose();
                }
            }

            throw new InvalidOperationException("no port was free on every address of localhost");
        }

        public int Port { get; private set; }

        public void Dispose()
        {
            foreach (Socket socket in _sockets)
            {
                socket.Dispose();
            }

            _sockets.Clear();
        }
    }
}
