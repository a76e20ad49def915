using System.Text.Json;
using HealthChecks.TcpShaker.Tool.Tests.Support;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// The tool as a process inside a network namespace of the test's own: a name with an IPv4 and an
/// IPv6 address (from the namespace's hosts file), and an ICMP-unreachable port (iptables REJECT).
/// </summary>
public sealed class NamespaceTests
{
    private const string Hosts = "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 svc.test\n::1 svc.test\n";

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static NetNamespace CreateOrSkip()
    {
        string? unavailable = NetNamespace.SkipReason();
        Assert.SkipWhen(unavailable is not null, unavailable ?? string.Empty);
        NetNamespace ns = NetNamespace.Create(hosts: Hosts, prefix: "tstool-");
        if (!ns.Exec("ip", "-o", "addr", "show", "dev", "lo").Contains("::1", StringComparison.Ordinal))
        {
            ns.Dispose();
            Assert.Skip("the namespace's loopback has no ::1 (IPv6 disabled?)");
        }

        return ns;
    }

    /// <summary>Runs a program inside the namespace to its end.</summary>
    private static Task<ToolRun> RunAsync(NetNamespace ns, params string[] command) =>
        ToolRunner.RunProcessAsync("ip", ["netns", "exec", ns.Name, .. command], Limit);

    [Fact]
    [Trait("Category", "Netns")]
    public async Task All_addresses_fails_a_name_with_an_open_and_a_closed_address_that_any_accepts()
    {
        using NetNamespace ns = CreateOrSkip();
        using LoopbackListener listener = ns.RunInside(() => new LoopbackListener(System.Net.IPAddress.Loopback, backlog: 16, port: 7000));

        ToolRun any = await RunAsync(ns, "dotnet", ToolRunner.AssemblyPath, "check", "svc.test:7000", "--json");
        ToolRun all = await RunAsync(ns, "dotnet", ToolRunner.AssemblyPath, "check", "svc.test:7000", "--json", "--all-addresses");
        ToolRun lines = await RunAsync(ns, "dotnet", ToolRunner.AssemblyPath, "check", "svc.test:7000", "--all-addresses");

        Assert.True(any.ExitCode == 0, any.ToString());
        Assert.True(all.ExitCode == 1, all.ToString());
        JsonElement target = Assert.Single(any.Json.GetProperty("targets").EnumerateArray());
        Assert.True(target.GetProperty("ok").GetBoolean());
        Dictionary<string, string?> statuses = target.GetProperty("addresses").EnumerateArray()
            .ToDictionary(a => a.GetProperty("address").GetString()!, a => a.GetProperty("status").GetString());
        Assert.Equal(new Dictionary<string, string?> { ["127.0.0.1:7000"] = "Open", ["[::1]:7000"] = "Refused" }, statuses);
        Assert.False(all.Json.GetProperty("ok").GetBoolean());
        Assert.Matches(@"(?m)^OPEN +svc\.test:7000 +127\.0\.0\.1:7000 ", lines.Out);
        Assert.Matches(@"(?m)^REFUSED +svc\.test:7000 +\[::1\]:7000 ", lines.Out);
        Assert.Contains("1 of 1 targets not open: svc.test:7000", lines.Out, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Netns")]
    public async Task Unreachable_port_shows_the_errno()
    {
        using NetNamespace ns = CreateOrSkip();
        ToolRun reject = await RunAsync(ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7001", "-j", "REJECT", "--reject-with", "icmp-host-unreachable");
        Assert.SkipWhen(reject.ExitCode != 0, $"iptables could not add a REJECT rule in the namespace: {reject}");

        ToolRun run = await RunAsync(ns, "dotnet", ToolRunner.AssemblyPath, "check", "127.0.0.1:7001", "--timeout", "5s");
        ToolRun json = await RunAsync(ns, "dotnet", ToolRunner.AssemblyPath, "check", "127.0.0.1:7001", "--timeout", "5s", "--json");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Matches(@"(?m)^UNREACHABLE +127\.0\.0\.1:7001 +127\.0\.0\.1:7001 +\d+\.\d{3} ms +127\.0\.0\.1:7001 is unreachable \(EHOSTUNREACH\)$", run.Out);
        JsonElement address = json.Json.GetProperty("targets")[0].GetProperty("addresses")[0];
        Assert.Equal("Unreachable", address.GetProperty("status").GetString());
        Assert.Equal(113, address.GetProperty("errorCode").GetInt32());
    }
}
