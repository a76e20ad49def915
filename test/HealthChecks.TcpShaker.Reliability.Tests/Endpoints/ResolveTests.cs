using System.Globalization;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Reliability.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HealthChecks.TcpShaker.Reliability.Tests.Endpoints;

/// <summary>
/// A name that does not resolve. The lookup runs in a child process inside a fresh network namespace
/// holding only loopback, so the resolver's query cannot leave the machine (this machine's resolver
/// is not on loopback); the name is under the reserved <c>.invalid</c> TLD (RFC 6761) besides.
/// </summary>
public sealed class ResolveTests
{
    private const string ChildVariable = "TCPSHAKER_RELIABILITY_CHILD";
    private const string Name = "nonexistent.invalid";

    [Fact]
    public void An_unresolvable_name_is_ResolveFailed_with_the_name_in_the_health_check_description()
    {
        Namespaces.SkipUnlessAvailable();
        using var ns = NetNamespace.Create(veth: false);
        string[] child = ChildTest.Command(typeof(ResolveTests), nameof(Child_resolves_an_unresolvable_name), ChildVariable, "resolve");

        ChildTest.AssertPassed(ns.TryExec(TimeSpan.FromMinutes(1), child[0], child[1..]));
    }

    /// <summary>Runs only as the child of the test above, inside the namespace.</summary>
    [Fact]
    public async Task Child_resolves_an_unresolvable_name()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable(ChildVariable) == "resolve", "runs only inside the namespace, as the child of the test above");
        var ct = TestContext.Current.CancellationToken;
        await using var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false });

        var direct = await shaker.CheckAsync($"{Name}:80", TimeSpan.FromSeconds(5), ct);

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddTcpShaker("dns", $"{Name}:80");
        await using ServiceProvider provider = services.BuildServiceProvider();
        HealthReport report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(ct);
        HealthReportEntry entry = report.Entries["dns"];

        Assert.Equal(TcpCheckStatus.ResolveFailed, direct.Status);
        Assert.Null(direct.RemoteEndPoint);
        Assert.NotEqual((int)SocketError.Success, direct.ErrorCode);
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains($"{Name}:80 could not be resolved", entry.Description, StringComparison.Ordinal);
        var reports = Assert.IsType<TcpEndpointReport[]>(entry.Data[$"{Name}:80"]);
        Assert.Equal("ResolveFailed", Assert.Single(reports).Status);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"child: {entry.Description}"));
    }
}
