using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HealthChecks.TcpShaker.Reliability.Tests.Support;

namespace HealthChecks.TcpShaker.Reliability.Tests.Engine;

/// <summary>
/// A real server that counts its connections: redis-server on a loopback port of its own. Half-open
/// checks must not show up in its <c>total_connections_received</c>; full connects must.
/// Runs alone in the process: a half-open check stays invisible only while the loop closes each socket
/// within 200 ms of its SYN-ACK, and CPU-heavy tests beside it (the fuzzers' garbage collections pause
/// the loop thread too) can stretch that on a 2-core machine.
/// </summary>
[Collection(nameof(ProcessWide))]
public sealed class RealServerTests
{
    private const int HalfOpenChecks = 10_000;
    private const int FullConnectChecks = 200;
    private const int Batch = 500;

    [Fact(Timeout = 120_000)]
    [Trait("Category", "Timing")]
    public async Task Redis_sees_no_half_open_check_but_counts_full_connects()
    {
        string? redis = Sh.Which("redis-server");
        Assert.SkipWhen(redis is null, "redis-server is not installed (apt-get install -y redis-server)");
        Assert.SkipUnless(OperatingSystem.IsLinux(), "half-open checking is Linux only");
        await using var server = await RedisServer.StartAsync(redis!);
        using var stats = await RedisStats.ConnectAsync(server.EndPoint); // one connection for every INFO, opened before counting
        var ct = TestContext.Current.CancellationToken;

        long before = await stats.TotalConnectionsReceivedAsync();
        var halfOpen = new TcpShaker(new TcpShakerOptions());
        var halfOpenResults = await CheckInBatchesAsync(halfOpen, server.EndPoint, HalfOpenChecks, ct);
        TcpShakerMode halfOpenMode = halfOpen.Mode;
        await halfOpen.DisposeAsync();
        long afterHalfOpen = await stats.TotalConnectionsReceivedAsync();

        var fullConnect = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true });
        var fullResults = await CheckInBatchesAsync(fullConnect, server.EndPoint, FullConnectChecks, ct);
        await fullConnect.DisposeAsync();
        await Task.Delay(200, ct); // let redis accept what is queued
        long afterFull = await stats.TotalConnectionsReceivedAsync();

        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"total_connections_received: {before} before, {afterHalfOpen} after {HalfOpenChecks} half-open checks, {afterFull} after {FullConnectChecks} full connects"));
        Assert.Equal(TcpShakerMode.HalfOpen, halfOpenMode);
        Assert.All(halfOpenResults, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.All(fullResults, r => Assert.Equal(TcpCheckStatus.Open, r.Status));
        Assert.Equal(before, afterHalfOpen);
        // Redis counts a connection once it has set it up; a full connect that is reset before redis gets to it
        // is not counted: 123 to 200 of 200 on an idle machine, 15 of 200 with two busy loops on the two
        // cores (redis rarely scheduled before the reset). So the counterpart asserts only that redis does
        // see full connects, where 10,000 half-open checks left its count unchanged.
        Assert.InRange(afterFull - afterHalfOpen, 1, FullConnectChecks);
    }

    private static async Task<List<TcpCheckResult>> CheckInBatchesAsync(TcpShaker shaker, IPEndPoint target, int count, CancellationToken ct)
    {
        var results = new List<TcpCheckResult>(count);
        for (int done = 0; done < count; done += Batch)
        {
            var batch = Enumerable.Range(0, Math.Min(Batch, count - done)).Select(_ => shaker.CheckAsync(target, TimeSpan.FromSeconds(2), ct).AsTask());
            results.AddRange(await Task.WhenAll(batch));
        }

        return results;
    }

    /// <summary>redis-server in the foreground on a free loopback port, no persistence; killed on dispose.</summary>
    private sealed class RedisServer : IAsyncDisposable
    {
        private readonly System.Diagnostics.Process _process;

        private RedisServer(System.Diagnostics.Process process, IPEndPoint endPoint)
        {
            _process = process;
            EndPoint = endPoint;
        }

        public IPEndPoint EndPoint { get; }

        public static async Task<RedisServer> StartAsync(string path)
        {
            int port;
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }

            var info = new System.Diagnostics.ProcessStartInfo(path)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes" })
            {
                info.ArgumentList.Add(arg);
            }

            var process = System.Diagnostics.Process.Start(info)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new RedisServer(process, new IPEndPoint(IPAddress.Loopback, port));
            for (int i = 0; i < 100; i++)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with {process.ExitCode}");
                }

                try
                {
                    using var stats = await RedisStats.ConnectAsync(server.EndPoint);
                    return server;
                }
                catch (SocketException)
                {
                    await Task.Delay(50);
                }
            }

            await server.DisposeAsync();
            throw new InvalidOperationException("redis-server did not start listening within 5 s");
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            _process.Dispose();
        }
    }

    /// <summary>A minimal RESP client on one connection: INFO stats, parsed for total_connections_received.</summary>
    private sealed class RedisStats : IDisposable
    {
        private readonly Socket _socket;

        private RedisStats(Socket socket) => _socket = socket;

        public static async Task<RedisStats> ConnectAsync(IPEndPoint endPoint)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endPoint);
                return new RedisStats(socket);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public async Task<long> TotalConnectionsReceivedAsync()
        {
            await _socket.SendAsync(Encoding.ASCII.GetBytes("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n"));
            // The reply is one bulk string: "$<length>\r\n<text>\r\n".
            var received = new List<byte>();
            var buffer = new byte[8192];
            int expected = -1;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (expected < 0 || received.Count < expected)
            {
                int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    throw new InvalidOperationException("redis closed the connection");
                }

                received.AddRange(buffer.AsSpan(0, n).ToArray());
                string text = Encoding.ASCII.GetString(received.ToArray());
                int headerEnd = text.IndexOf("\r\n", StringComparison.Ordinal);
                if (expected < 0 && headerEnd > 0)
                {
                    expected = headerEnd + 2 + int.Parse(text[1..headerEnd], CultureInfo.InvariantCulture) + 2;
                }
            }

            string reply = Encoding.ASCII.GetString(received.ToArray());
            string line = reply.Split("\r\n").Single(l => l.StartsWith("total_connections_received:", StringComparison.Ordinal));
            return long.Parse(line["total_connections_received:".Length..], CultureInfo.InvariantCulture);
        }

        public void Dispose() => _socket.Dispose();
    }
}
