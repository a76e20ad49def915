using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Benchmarks;

/// <summary>The child side: runs one <see cref="CaseSpec"/> in this process and returns what it measured.</summary>
internal static class CaseRunner
{
    private static readonly byte[] s_zero = new byte[4];

    internal static async Task<CaseResult> RunAsync(CaseSpec spec)
    {
        var result = new CaseResult { Spec = spec };
        using var busy = new BusyProcesses(spec.BusyProcesses);
        try
        {
            switch (spec.Kind)
            {
                case CaseKind.Shaker:
                case CaseKind.ShakerRefused:
                case CaseKind.ShakerString:
                    await RunShakerAsync(spec, result);
                    break;
                case CaseKind.CReference:
                case CaseKind.CReferenceRefused:
                case CaseKind.CRawSyn:
                    await RunCReferenceAsync(spec, result);
                    break;
                case CaseKind.Naive:
                    await RunNaiveAsync(spec, result);
                    break;
                case CaseKind.FullConnect:
                    await RunFullConnectAsync(spec, result);
                    break;
                case CaseKind.ShakerTimeout:
                    await RunTimeoutAsync(spec, result);
                    break;
                case CaseKind.Idle:
                    await IdleCase.RunAsync(spec, result);
                    break;
                case CaseKind.HealthCheckService:
                    await RunHealthCheckServiceAsync(spec, result);
                    break;
                case CaseKind.MonitorShaker:
                case CaseKind.MonitorHaproxy:
                case CaseKind.MonitorPaced:
                    await MonitorCases.RunCostAsync(spec, result);
                    break;
                case CaseKind.MonitorDetection:
                    await MonitorCases.RunDetectionAsync(spec, result);
                    break;
                case CaseKind.ProberLoad:
                    await ProberCases.RunLoadAsync(spec, result);
                    break;
                case CaseKind.ProberWatch:
                    await ProberCases.RunWatchAsync(spec, result);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "unknown case");
            }
        }
        catch (Exception e)
        {
            result.Error = e.ToString();
        }

        return result;
    }

    private static string StatusName(int status) => ((TcpCheckStatus)status).ToString();

    /// <summary>Runs <paramref name="spec"/>'s load with one worker per concurrent check.</summary>
    private static async Task<LoadRecorder> LoadAsync(int total, int concurrency, int budgetMs, Func<LoadRecorder, Task> worker)
    {
        int workers = Math.Min(concurrency, total);
        var recorder = new LoadRecorder(total, budgetMs, workers);
        recorder.MarkStart();
        for (int i = 0; i < workers; i++)
        {
            _ = worker(recorder);
        }

        await recorder.AllDone;
        return recorder;
    }

    private static TcpShaker NewShaker(int loops) => new(new TcpShakerOptions { LoopCount = loops });

    private static TcpShaker NewShaker(CaseSpec spec) =>
        new(new TcpShakerOptions
        {
            LoopCount = spec.Loops,
            PreferRawSyn = spec.RawSyn,
            RaiseLoopPriority = spec.RaiseLoopPriority,
            MaxChecksInFlight = Math.Max(new TcpShakerOptions().MaxChecksInFlight, spec.Concurrency),
        });

    /// <summary>Starts <paramref name="shaker"/>; the row fails if raw SYN mode was asked for and the engine fell back.</summary>
    internal static async Task StartInModeAsync(TcpShaker shaker, CaseSpec spec, CaseResult result)
    {
        await shaker.StartAsync();
        if (spec.RawSyn && shaker.Mode != TcpShakerMode.RawSyn)
        {
            throw new InvalidOperationException($"raw SYN mode was asked for, the engine runs {shaker.Mode} (see its log)");
        }

        result.Notes.Add($"mode {shaker.Mode}");
    }

    private static async Task RunShakerAsync(CaseSpec spec, CaseResult result)
    {
        using var listener = new LoopbackListener(backlog: 4096);
        using var closed = new ClosedPort();
        IPEndPoint target = spec.Kind == CaseKind.ShakerRefused ? closed.EndPoint : listener.EndPoint;
        string targetText = target.ToString();
        var timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs);
        using ReactionRecorder? reaction = spec.Reaction ? new ReactionRecorder(spec.Total + (spec.Total / 2)) : null;
        await using TcpShaker shaker = NewShaker(spec);
        await StartInModeAsync(shaker, spec, result);
        Func<LoadRecorder, Task> worker = spec.Kind == CaseKind.ShakerString
            ? r => StringWorker(r, shaker, targetText, timeout)
            : r => ShakerWorker(r, shaker, target, timeout);
        // Warm up at the measured concurrency, so the operation pool and in-flight table are at their peak size.
        await LoadAsync(Math.Max(spec.Warmup, 2 * spec.Concurrency), spec.Concurrency, spec.BudgetMs, worker);
        GC.Collect();
        reaction?.Begin();
        List<int> loopThreads = CpuTime.FindThreads(spec.LoopThreadName);
        (long loopCpu, long loopSwitches) = CpuTime.Threads(loopThreads);
        long loopWaits = CpuTime.Threads(loopThreads, voluntaryOnly: true).Switches;
        int poolThreads = ThreadPool.ThreadCount;
        long loopRunQueue = CpuTime.RunQueueWait(loopThreads);
        LoadRecorder load = await LoadAsync(spec.Total, spec.Concurrency, spec.BudgetMs, worker);
        load.Fill(result, StatusName);
        (long loopCpuAfter, long loopSwitchesAfter) = CpuTime.Threads(loopThreads);
        result.Extra["loop_cpu_us_per_check"] = (loopCpuAfter - loopCpu) / 1000.0 / result.Completed;
        result.Extra["loop_context_switches_per_check"] = (double)(loopSwitchesAfter - loopSwitches) / result.Completed;
        result.Extra["threadpool_threads_added"] = ThreadPool.ThreadCount - poolThreads;
        result.Extra["loop_runqueue_wait_us_per_check"] = (CpuTime.RunQueueWait(loopThreads) - loopRunQueue) / 1000.0 / result.Completed;
        result.Extra["loop_waits_per_check"] = (double)(CpuTime.Threads(loopThreads, voluntaryOnly: true).Switches - loopWaits) / result.Completed;
        result.ReactionUs = reaction?.Summary();
        result.Extra["accept_queue_nonempty"] = listener.HasPendingConnection ? 1 : 0;
    }

    private static async Task ShakerWorker(LoadRecorder recorder, TcpShaker shaker, IPEndPoint target, TimeSpan timeout)
    {
        try
        {
            while (recorder.TryNext(out int index))
            {
                long started = Stopwatch.GetTimestamp();
                TcpCheckStatus status;
                try
                {
                    status = (await shaker.CheckAsync(target, timeout)).Status;
                }
                catch (OperationCanceledException)
                {
                    status = TcpCheckStatus.LocalError;
                }

                recorder.Record(index, started, (int)status);
            }
        }
        finally
        {
            recorder.WorkerExited();
        }
    }

    private static async Task StringWorker(LoadRecorder recorder, TcpShaker shaker, string target, TimeSpan timeout)
    {
        try
        {
            while (recorder.TryNext(out int index))
            {
                long started = Stopwatch.GetTimestamp();
                TcpCheckResult checkResult = await shaker.CheckAsync(target, timeout);
                recorder.Record(index, started, (int)checkResult.Status);
            }
        }
        finally
        {
            recorder.WorkerExited();
        }
    }

    private static async Task RunCReferenceAsync(CaseSpec spec, CaseResult result)
    {
        string? binary = spec.Kind == CaseKind.CRawSyn ? spec.RawsynPath : spec.SynlimitPath;
        if (binary is null || !File.Exists(binary))
        {
            throw new FileNotFoundException("The compiled C reference is missing.", binary);
        }

        using var listener = new LoopbackListener(backlog: 4096);
        using var closed = new ClosedPort();
        int port = spec.Kind == CaseKind.CReferenceRefused ? closed.EndPoint.Port : listener.Port;
        int perLoop = Math.Max(1, spec.Concurrency / spec.Loops);
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                spec.Total.ToString(CultureInfo.InvariantCulture),
                perLoop.ToString(CultureInfo.InvariantCulture),
                spec.Loops.ToString(CultureInfo.InvariantCulture),
                port.ToString(CultureInfo.InvariantCulture),
            },
        };
        if (spec.Kind == CaseKind.CRawSyn)
        {
            // rawsyn TOTAL CONCURRENCY PORT: one loop.
            start.ArgumentList.RemoveAt(2);
        }
        else if (spec.OwnListeners)
        {
            start.ArgumentList.RemoveAt(3); // synlimit TOTAL CONCURRENCY LOOPS: a listener per loop
        }

        if (spec.Nice != 0)
        {
            // nice execs the program, so the CPU reaped below is still the program's.
            start.ArgumentList.Insert(0, binary);
            start.ArgumentList.Insert(0, spec.Nice.ToString(CultureInfo.InvariantCulture));
            start.ArgumentList.Insert(0, "-n");
            start.FileName = "nice";
        }

        TimeSpan childCpu = CpuTime.ReapedChildren();
        using Process process = Process.Start(start)!;
        using var budget = new CancellationTokenSource(spec.BudgetMs + 30_000);
        Task<string> output = process.StandardOutput.ReadToEndAsync(budget.Token);
        Task<string> errors = process.StandardError.ReadToEndAsync(budget.Token);
        try
        {
            await process.WaitForExitAsync(budget.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("synlimit ran past its time budget and was killed.");
        }

        string line = (await output).Trim();
        // loops=1 total=200000 conc=100 ok=200000 fail=0 seconds=4.3 rate=46000/s
        Dictionary<string, string> fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!fields.TryGetValue("ok", out string? ok) || !fields.TryGetValue("fail", out string? fail) || !fields.TryGetValue("seconds", out string? seconds))
        {
            throw new InvalidOperationException($"synlimit printed '{line}' ({(await errors).Trim()}), exit {process.ExitCode}");
        }

        result.Succeeded = int.Parse(ok, CultureInfo.InvariantCulture);
        result.Failed = int.Parse(fail, CultureInfo.InvariantCulture);
        result.Completed = result.Succeeded + result.Failed;
        result.Seconds = double.Parse(seconds, CultureInfo.InvariantCulture);
        result.ChecksPerSecond = result.Completed / result.Seconds;
        result.Extra["cpu_us_per_check"] = (CpuTime.ReapedChildren() - childCpu).TotalMicroseconds / result.Completed;
        result.Statuses["ok"] = result.Succeeded;
        result.Statuses["fail"] = result.Failed;
        result.Extra["accept_queue_nonempty"] = listener.HasPendingConnection ? 1 : 0;
        result.Notes.Add(spec.Kind == CaseKind.CRawSyn ? $"{spec.Concurrency} in flight, one process" : $"{perLoop} in flight per loop, one process per loop");
        if (spec.Nice != 0)
        {
            result.Notes.Add($"nice {spec.Nice}");
        }
    }

    private static async Task RunNaiveAsync(CaseSpec spec, CaseResult result)
    {
        using var listener = new LoopbackListener(backlog: 4096);
        var timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs);
        await LoadAsync(spec.Warmup, Math.Min(spec.Concurrency, 100), spec.BudgetMs, r => NaiveWorker(r, listener.EndPoint, timeout));
        GC.Collect();
        LoadRecorder load = await LoadAsync(spec.Total, spec.Concurrency, spec.BudgetMs, r => NaiveWorker(r, listener.EndPoint, timeout));
        load.Fill(result, StatusName);
        result.Extra["accept_queue_nonempty"] = listener.HasPendingConnection ? 1 : 0;
    }

    private static async Task NaiveWorker(LoadRecorder recorder, IPEndPoint target, TimeSpan timeout)
    {
        try
        {
            while (recorder.TryNext(out int index))
            {
                long started = Stopwatch.GetTimestamp();
                TcpCheckStatus status;
                using var cts = new CancellationTokenSource(timeout);
                var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.SetRawSocketOption(6, 12, s_zero); // TCP_QUICKACK = 0
                    socket.LingerState = new LingerOption(true, 0);
                    await socket.ConnectAsync(target, cts.Token);
                    status = TcpCheckStatus.Open;
                }
                catch (OperationCanceledException)
                {
                    status = TcpCheckStatus.Timeout;
                }
                catch (SocketException e)
                {
                    status = Classify(e.SocketErrorCode);
                }
                finally
                {
                    socket.Dispose();
                }

                recorder.Record(index, started, (int)status);
            }
        }
        finally
        {
            recorder.WorkerExited();
        }
    }

    private static TcpCheckStatus Classify(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => TcpCheckStatus.Refused,
        SocketError.TimedOut => TcpCheckStatus.Timeout,
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => TcpCheckStatus.Unreachable,
        _ => TcpCheckStatus.LocalError,
    };

    private static async Task RunFullConnectAsync(CaseSpec spec, CaseResult result)
    {
        // A server that accepts and closes at once, on a thread of its own.
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(4096);
        int port = ((IPEndPoint)server.LocalEndPoint!).Port;
        long accepted = 0;
        var acceptor = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    server.Accept().Dispose();
                    accepted++;
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // the listener was closed: the run is over
            }
        })
        { IsBackground = true, Name = "accept-and-close" };
        acceptor.Start();
        try
        {
            var timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs);
            await LoadAsync(spec.Warmup, Math.Min(spec.Concurrency, 100), spec.BudgetMs, r => FullConnectWorker(r, port, timeout));
            GC.Collect();
            LoadRecorder load = await LoadAsync(spec.Total, spec.Concurrency, spec.BudgetMs, r => FullConnectWorker(r, port, timeout));
            load.Fill(result, StatusName);
        }
        finally
        {
            server.Dispose();
            acceptor.Join(5000);
        }

        result.Extra["server_accepted"] = Volatile.Read(ref accepted);
    }

    /// <summary>What AspNetCore.HealthChecks.Network's TcpHealthCheck does per check.</summary>
    private static async Task FullConnectWorker(LoadRecorder recorder, int port, TimeSpan timeout)
    {
        try
        {
            while (recorder.TryNext(out int index))
            {
                long started = Stopwatch.GetTimestamp();
                TcpCheckStatus status;
                using var cts = new CancellationTokenSource(timeout);
                try
                {
                    using var client = new TcpClient(AddressFamily.InterNetwork);
                    await client.ConnectAsync("127.0.0.1", port, cts.Token);
                    status = client.Connected ? TcpCheckStatus.Open : TcpCheckStatus.LocalError;
                }
                catch (OperationCanceledException)
                {
                    status = TcpCheckStatus.Timeout;
                }
                catch (SocketException e)
                {
                    status = Classify(e.SocketErrorCode);
                }

                recorder.Record(index, started, (int)status);
            }
        }
        finally
        {
            recorder.WorkerExited();
        }
    }

    private static async Task RunTimeoutAsync(CaseSpec spec, CaseResult result)
    {
        using var listener = new LoopbackListener(backlog: 4096);
        using SilentTarget? silent = spec.IptablesSilent ? null : new SilentTarget();
        IPEndPoint target = silent?.EndPoint ?? new IPEndPoint(IPAddress.Loopback, 9);
        result.Notes.Add(spec.IptablesSilent ? "silent target: iptables DROP on port 9 in the namespace" : "silent target: backlog-0 listener with a full accept queue");
        await using TcpShaker shaker = NewShaker(spec.Loops);
        await shaker.StartAsync();
        await LoadAsync(spec.Warmup, 100, spec.BudgetMs, r => ShakerWorker(r, shaker, listener.EndPoint, TimeSpan.FromSeconds(5)));
        // And the timeout path itself, so the measured wave does not pay for its first JIT.
        await LoadAsync(200, 100, spec.BudgetMs, r => ShakerWorker(r, shaker, target, TimeSpan.FromMilliseconds(20)));

        var timeout = TimeSpan.FromMilliseconds(spec.TimeoutMs);
        int n = spec.Total;
        double[] lateness = new double[n];
        double[] callerLateness = new double[n];
        var statuses = new int[8];
        var checks = new Task[n];
        long begin = Stopwatch.GetTimestamp();
        for (int i = 0; i < n; i++)
        {
            checks[i] = One(i);
        }

        await Task.WhenAll(checks);
        result.Seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        result.SetCounts(statuses, n, StatusName);

        result.ChecksPerSecond = n / result.Seconds;
        result.TimeoutLatenessMs = Percentiles.Of(lateness);
        result.TimeoutCallerLatenessMs = Percentiles.Of(callerLateness);

        async Task One(int i)
        {
            long started = Stopwatch.GetTimestamp();
            TcpCheckResult r = await shaker.CheckAsync(target, timeout);
            double caller = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Interlocked.Increment(ref statuses[(int)r.Status]);
            lateness[i] = r.Elapsed.TotalMilliseconds - timeout.TotalMilliseconds;
            callerLateness[i] = caller - timeout.TotalMilliseconds;
        }
    }

    private static async Task RunHealthCheckServiceAsync(CaseSpec spec, CaseResult result)
    {
        using var listener = new LoopbackListener(backlog: 4096);
        var services = new ServiceCollection();
        services.AddLogging();
        if (spec.Baseline)
        {
            services.AddHealthChecks().AddCheck("noop", () => HealthCheckResult.Healthy());
        }
        else
        {
            services.AddHealthChecks().AddTcpShaker("tcp", listener.EndPoint.ToString());
        }

        await using ServiceProvider provider = services.BuildServiceProvider();
        HealthCheckService healthChecks = provider.GetRequiredService<HealthCheckService>();
        await LoadAsync(spec.Warmup, spec.Concurrency, spec.BudgetMs, r => HealthWorker(r, healthChecks));
        GC.Collect();
        LoadRecorder load = await LoadAsync(spec.Total, spec.Concurrency, spec.BudgetMs, r => HealthWorker(r, healthChecks));
        load.Fill(result, StatusName);
        result.Extra["accept_queue_nonempty"] = listener.HasPendingConnection ? 1 : 0;
    }

    private static async Task HealthWorker(LoadRecorder recorder, HealthCheckService healthChecks)
    {
        try
        {
            while (recorder.TryNext(out int index))
            {
                long started = Stopwatch.GetTimestamp();
                HealthReport report = await healthChecks.CheckHealthAsync();
                recorder.Record(index, started, report.Status == HealthStatus.Healthy ? 0 : (int)TcpCheckStatus.LocalError);
            }
        }
        finally
        {
            recorder.WorkerExited();
        }
    }
}

/// <summary>
/// N busy-loop shells (<c>while :; do :; done</c>) for the length of a row, the CPU starvation of the
/// issue's measurement; killed (bounded in time) when the row ends.
/// </summary>
internal sealed class BusyProcesses : IDisposable
{
    private readonly List<Process> _processes = [];

    internal BusyProcesses(int count)
    {
        for (int i = 0; i < count; i++)
        {
            // The shell exits by itself after 10 minutes if this process dies without disposing it.
            _processes.Add(Process.Start(new ProcessStartInfo("timeout", ["600", "sh", "-c", "while :; do :; done"]))!);
        }
    }

    public void Dispose()
    {
        foreach (Process process in _processes)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5_000);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }
}
