using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Aspire.Tests;

/// <summary>
/// Real AppHosts run by DCP (executables, no containers): redis-server listening late behind DCP's proxy, a process that
/// never listens behind it, and an unproxied redis-server. Each AppHost test takes about 10 s.
/// </summary>
public sealed class ResourceHealthTests
{
    private const string CheckSuffix = "_tcp_tcpshaker_check";

    // Aspire polls an unhealthy resource's checks after 1, 2, 3, 4, then every 5 s: the check answers from its watch at
    // once, so Healthy shows at the first poll after the watch (1 s interval) saw the port open.
    private static readonly TimeSpan AspirePollStep = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Redis_listening_late_is_unhealthy_then_healthy_its_waiter_starts_only_then_and_redis_accepts_no_check()
    {
        (string redis, string cli) = RequireRedis();
        CancellationToken ct = TestContext.Current.CancellationToken;
        int[] ports = LoopbackPorts.Free(2);
        (int proxyPort, int targetPort) = (ports[0], ports[1]); // the proxy's is randomized by the testing builder
        int[] childrenBefore = ChildProcesses();

        IDistributedApplicationTestingBuilder builder = DistributedApplicationTestingBuilder.Create();
        IResourceBuilder<ExecutableResource> server = builder
            .AddExecutable("redis", "sh", Path.GetTempPath(), "-c",
                $"sleep 3 && exec {redis} --port {targetPort} --bind 127.0.0.1 --save '' --appendonly no")
            .WithEndpoint(port: proxyPort, targetPort: targetPort, scheme: "tcp", name: "tcp", isProxied: true)
            .WithTcpShakerHealthCheck("tcp");
        builder.AddExecutable("waiter", "sleep", Path.GetTempPath(), "600").WaitFor(server);

        var timeline = new ResourceTimeline();
        Stopwatch run = Stopwatch.StartNew();
        long redisPid;
        await using (DistributedApplication app = await builder.BuildAsync(ct))
        {
            using var recording = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task recorder = timeline.RecordAsync(app.ResourceNotifications, recording.Token);
            Task<DateTimeOffset> opened = LoopbackPorts.WhenListeningAsync(targetPort, TimeSpan.FromSeconds(30), ct);

            // StartAsync returns once the waiter's WaitFor is released, that is once redis is healthy.
            await app.StartAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            await app.ResourceNotifications.WaitForResourceAsync("waiter", KnownResourceStates.Running, ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            DateTimeOffset openedAt = await opened;

            // Before the port opened: Unhealthy, saying the target port refused, while DCP's proxy already listened.
            var before = timeline.Reports("redis", "redis" + CheckSuffix).Where(r => r.At < openedAt).ToList();
            Assert.NotEmpty(before);
            Assert.All(before, r => Assert.Equal(HealthStatus.Unhealthy, r.Report.Status));
            Assert.Contains(before, r => r.Report.Description!.Contains("last check Refused", StringComparison.Ordinal)
                && r.Report.Description.Contains("(HalfOpen); target port of 'tcp', proxy on localhost:", StringComparison.Ordinal));

            DateTimeOffset healthyAt = timeline.Of("redis").First(e => e.Health == HealthStatus.Healthy).At;
            DateTimeOffset waiterRunningAt = timeline.Of("waiter").First(e => e.State == KnownResourceStates.Running).At;
            Assert.Contains(timeline.Of("waiter"), e => e.State == KnownResourceStates.Waiting && e.At < openedAt);
            TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"port open at +{(openedAt - StartOf(timeline)).TotalSeconds:0.00} s, healthy {(healthyAt - openedAt).TotalSeconds:0.00} s later, waiter running {(waiterRunningAt - openedAt).TotalSeconds:0.00} s later; {before.Count} unhealthy reports before"));
            // Slack for a loaded machine (the whole suite runs its assemblies side by side on two cores).
            Assert.InRange(healthyAt, openedAt, openedAt + WatchInterval + AspirePollStep + TimeSpan.FromSeconds(2));
            Assert.True(waiterRunningAt >= healthyAt, "the waiter started before redis was healthy");

            // Redis accepted no check: its only connections are the two redis-cli INFOs, while the watch went on checking.
            TcpWatch watch = Assert.Single(app.Services.GetRequiredService<TcpShakerMonitor>().Watches);
            Assert.Equal(targetPort, watch.Endpoint.Port);
            long first = RedisCli.Info(cli, targetPort, "stats", "total_connections_received");
            long checks = watch.Checks;
            for (int i = 0; i < 100 && watch.Checks < checks + 3; i++)
            {
                await Task.Delay(100, ct);
            }

            long second = RedisCli.Info(cli, targetPort, "stats", "total_connections_received");
            TestContext.Current.TestOutputHelper?.WriteLine($"{watch.Checks} checks; redis total_connections_received {first}, then {second}");
            Assert.True(watch.Checks >= checks + 3, $"the watch checked {watch.Checks - checks} times in 10 s");
            Assert.Equal(1, first);
            Assert.Equal(2, second);
            redisPid = RedisCli.Info(cli, targetPort, "server", "process_id");
            proxyPort = app.GetEndpoint("redis", "tcp").Port; // the testing builder randomizes proxied ports
            Assert.True(LoopbackPorts.IsListening(proxyPort), $"DCP's proxy does not listen on {proxyPort}");

            await app.StopAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            await recording.CancelAsync();
            await recorder;
        }

        // Stopped cleanly: redis gone, neither port listening, no process of ours left (DCP and its children included).
        for (int i = 0; i < 100 && (Directory.Exists($"/proc/{redisPid}") || LoopbackPorts.IsListening(targetPort) || LoopbackPorts.IsListening(proxyPort) || ChildProcesses().Except(childrenBefore).Any()); i++)
        {
            await Task.Delay(100, ct);
        }

        Assert.False(Directory.Exists($"/proc/{redisPid}"), $"redis-server (pid {redisPid}) still runs");
        Assert.False(LoopbackPorts.IsListening(targetPort), "redis's port still listens");
        Assert.False(LoopbackPorts.IsListening(proxyPort), "the proxy's port still listens");
        Assert.Empty(ChildProcesses().Except(childrenBefore).Select(Describe));
        TestContext.Current.TestOutputHelper?.WriteLine($"run and stop took {run.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task A_proxied_endpoint_that_never_listens_stays_unhealthy_while_an_unproxied_listening_one_is_healthy()
    {
        (string redis, string cli) = RequireRedis();
        CancellationToken ct = TestContext.Current.CancellationToken;
        int[] ports = LoopbackPorts.Free(4);
        // The testing builder randomizes proxied ports: the ones given here are where DCP would listen without it.
        (int silentProxy, int silentTarget, int floatingProxy, int redisPort) = (ports[0], ports[1], ports[2], ports[3]);

        IDistributedApplicationTestingBuilder builder = DistributedApplicationTestingBuilder.Create();
        builder.AddExecutable("silent", "sleep", Path.GetTempPath(), "600")
            .WithEndpoint(port: silentProxy, targetPort: silentTarget, scheme: "tcp", name: "tcp", isProxied: true)
            .WithTcpShakerHealthCheck("tcp");
        builder.AddExecutable("floating", "sleep", Path.GetTempPath(), "600")
            .WithEndpoint(port: floatingProxy, scheme: "tcp", name: "tcp", isProxied: true)
            .WithTcpShakerHealthCheck();
        builder.AddExecutable("redis", redis, Path.GetTempPath(), "--port", redisPort.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
            .WithEndpoint(port: redisPort, scheme: "tcp", name: "tcp", isProxied: false)
            .WithTcpShakerHealthCheck("tcp");

        var timeline = new ResourceTimeline();
        await using DistributedApplication app = await builder.BuildAsync(ct);
        using var recording = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task recorder = timeline.RecordAsync(app.ResourceNotifications, recording.Token);
        await app.StartAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        await app.ResourceNotifications.WaitForResourceHealthyAsync("redis", ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        await app.ResourceNotifications.WaitForResourceAsync("silent", KnownResourceStates.Running, ct).WaitAsync(TimeSpan.FromSeconds(30), ct);

        // The premise: DCP's proxy listens on the silent resource's endpoint (at the port the testing builder
        // randomized) although its process never listens, so a check of that port would say open.
        int silentProxyPort = app.GetEndpoint("silent", "tcp").Port;
        for (int i = 0; i < 50 && !LoopbackPorts.IsListening(silentProxyPort); i++)
        {
            await Task.Delay(100, ct);
        }

        Assert.True(LoopbackPorts.IsListening(silentProxyPort), $"DCP's proxy does not listen on {silentProxyPort}");
        Assert.False(LoopbackPorts.IsListening(silentTarget));

        // Aspire polls an unhealthy resource after 1, 2 and 3 s: wait for three reports of each check after start.
        for (int i = 0; i < 150 && (Count("silent") < 3 || Count("floating") < 3); i++)
        {
            await Task.Delay(100, ct);
        }

        Assert.True(Count("silent") >= 3 && Count("floating") >= 3, $"reports: silent {Count("silent")}, floating {Count("floating")}");
        Assert.All(Distinct("silent"), r =>
        {
            Assert.Equal(HealthStatus.Unhealthy, r.Status);
            Assert.StartsWith($"localhost:{silentTarget} ", r.Description, StringComparison.Ordinal);
        });
        Assert.Contains("last check Refused", Distinct("silent").Last().Description, StringComparison.Ordinal);
        Assert.All(Distinct("floating"), r =>
        {
            Assert.Equal(HealthStatus.Unhealthy, r.Status);
            Assert.Contains("The endpoint 'tcp' of the resource 'floating' is proxied and has no fixed target port", r.Description, StringComparison.Ordinal);
        });
        Assert.NotEqual(HealthStatus.Healthy, CurrentHealth(app, "silent"));

        // The unproxied endpoint is checked on its own port, and its description carries what the dashboard shows.
        HealthReportSnapshot healthy = timeline.Reports("redis", "redis" + CheckSuffix).Last().Report;
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Contains($":{redisPort} is up since", healthy.Description, StringComparison.Ordinal);
        Assert.Contains("last check Open in", healthy.Description, StringComparison.Ordinal);
        Assert.EndsWith("; endpoint 'tcp'", healthy.Description, StringComparison.Ordinal);
        Assert.Matches("\\((HalfOpen|RawSyn|FullConnect)\\)", healthy.Description);
        TestContext.Current.TestOutputHelper?.WriteLine(healthy.Description ?? "");
        TestContext.Current.TestOutputHelper?.WriteLine(Distinct("silent").Last().Description ?? "");
        Assert.Equal(1, RedisCli.Info(cli, redisPort, "stats", "total_connections_received"));

        await app.StopAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        await recording.CancelAsync();
        await recorder;

        int Count(string resource) => timeline.Reports(resource, resource + CheckSuffix).Select(r => r.Report.LastRunAt).Distinct().Count();

        List<HealthReportSnapshot> Distinct(string resource) =>
            [.. timeline.Reports(resource, resource + CheckSuffix).Select(r => r.Report).DistinctBy(r => r.LastRunAt)];
    }

    [Fact]
    public void A_bad_endpoint_name_fails_when_the_app_is_built_naming_resource_and_endpoint()
    {
        IDistributedApplicationTestingBuilder builder = DistributedApplicationTestingBuilder.Create();
        IResourceBuilder<ExecutableResource> redis = builder.AddExecutable("redis", "redis-server", Path.GetTempPath())
            .WithEndpoint(port: 6379, targetPort: 6380, scheme: "tcp", name: "tcp");

        var wrongName = Assert.Throws<DistributedApplicationException>(() => redis.WithTcpShakerHealthCheck("tpc"));
        Assert.Equal(
            "Could not add a TCP health check to the resource 'redis': it has no endpoint named 'tpc' (its endpoints: 'tcp'). Declare the endpoint (WithEndpoint) before WithTcpShakerHealthCheck.",
            wrongName.Message);

        redis.WithEndpoint(port: 6390, targetPort: 6391, scheme: "tcp", name: "replication");
        var ambiguous = Assert.Throws<DistributedApplicationException>(() => redis.WithTcpShakerHealthCheck());
        Assert.Contains("it has several endpoints ('tcp', 'replication'); name the one to check", ambiguous.Message, StringComparison.Ordinal);

        var none = Assert.Throws<DistributedApplicationException>(() => builder.AddExecutable("bare", "true", Path.GetTempPath()).WithTcpShakerHealthCheck());
        Assert.Contains("resource 'bare': it has no endpoint", none.Message, StringComparison.Ordinal);

        var settings = Assert.Throws<DistributedApplicationException>(() => redis.WithTcpShakerHealthCheck("tcp", w => w.Rise = 0));
        Assert.Contains("endpoint 'tcp' of the resource 'redis' has invalid watch settings", settings.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Before_the_endpoint_is_allocated_the_check_is_unhealthy_and_says_so()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        IDistributedApplicationTestingBuilder builder = DistributedApplicationTestingBuilder.Create();
        builder.AddExecutable("redis", "redis-server", Path.GetTempPath())
            .WithEndpoint(port: 6379, targetPort: 6380, scheme: "tcp", name: "tcp")
            .WithTcpShakerHealthCheck("tcp");
        await using DistributedApplication app = await builder.BuildAsync(ct);

        // Built, not started: DCP has allocated nothing, and nothing is checked.
        HealthReport report = await app.Services.GetRequiredService<HealthCheckService>()
            .CheckHealthAsync(r => r.Name == "redis" + CheckSuffix, ct);
        HealthReportEntry entry = Assert.Single(report.Entries).Value;
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("The endpoint 'tcp' of the resource 'redis' has no address yet: DCP allocates it when the resource starts.", entry.Description);
        Assert.Empty(app.Services.GetRequiredService<TcpShakerMonitor>().Watches);
    }

    [Fact]
    public async Task Publishing_registers_no_engine_and_no_check()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        DirectoryInfo output = Directory.CreateTempSubdirectory("tcpshaker-aspire-publish-");
        try
        {
            IDistributedApplicationTestingBuilder builder = DistributedApplicationTestingBuilder.Create(
                "--operation", "publish", "--publisher", "manifest", "--output-path", output.FullName);
            Assert.True(builder.ExecutionContext.IsPublishMode);
            builder.AddExecutable("redis", "redis-server", Path.GetTempPath())
                .WithEndpoint(port: 6379, targetPort: 6380, scheme: "tcp", name: "tcp")
                .WithTcpShakerHealthCheck("tcp");
            Assert.Throws<DistributedApplicationException>(() => builder.AddExecutable("bare", "true", Path.GetTempPath()).WithTcpShakerHealthCheck());

            await using DistributedApplication app = await builder.BuildAsync(ct);
            Assert.Null(app.Services.GetService<TcpShaker>());
            Assert.DoesNotContain(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value.Registrations, r => r.Name == "redis" + CheckSuffix);
        }
        finally
        {
            output.Delete(recursive: true);
        }
    }

    private static (string Redis, string Cli) RequireRedis()
    {
        string? redis = Sh.Which("redis-server");
        string? cli = Sh.Which("redis-cli");
        Assert.SkipWhen(redis is null || cli is null, "redis-server or redis-cli is not installed (apt-get install -y redis-server redis-tools)");
        Assert.SkipUnless(OperatingSystem.IsLinux(), "DCP runs the executables here on Linux; half-open checking is Linux only");
        return (redis!, cli!);
    }

    private static HealthStatus? CurrentHealth(DistributedApplication app, string resource) =>
        app.ResourceNotifications.TryGetCurrentState(resource, out ResourceEvent? e) ? e.Snapshot.HealthStatus : null;

    private static DateTimeOffset StartOf(ResourceTimeline timeline) => timeline.Entries.Count > 0 ? timeline.Entries[0].At : DateTimeOffset.UtcNow;

    /// <summary>The processes whose parent is this test process.</summary>
    private static int[] ChildProcesses()
    {
        int self = Environment.ProcessId;
        var children = new List<int>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }

            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces but ends at the last ')'.
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                string[] after = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(after[1], CultureInfo.InvariantCulture) == self && after[0] != "Z")
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }

        return [.. children];
    }

    private static string Describe(int pid)
    {
        try
        {
            return $"{pid}: {File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ')}";
        }
        catch (IOException)
        {
            return $"{pid}: gone";
        }
    }
}
