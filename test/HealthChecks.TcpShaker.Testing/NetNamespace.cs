using System.Globalization;
using System.Net;
using Microsoft.Win32.SafeHandles;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>
/// A network namespace of a test's (or a benchmark case's) own, deleted on dispose (also when the test
/// fails), with the processes still in it. Loopback is up (127.0.0.1 and ::1). Optionally:
/// a hosts file (<c>ip netns exec</c> bind-mounts <c>/etc/netns/NAME/hosts</c> over <c>/etc/hosts</c>,
/// so a name resolves to the addresses a test wants), and a veth pair with a /30 from 198.18.0.0/15
/// (RFC 2544 benchmarking range) on both sides. Before anything is sent to <see cref="InsideAddress"/>,
/// <see cref="AssertRoutedThroughVeth"/> checks that the root namespace routes it through the veth,
/// so no packet aimed at the namespace can leave through the default route. Its kernel counters
/// (<see cref="ReadCounters"/>) belong to it alone. Needs Linux, root and <c>ip</c> (iproute2).
/// </summary>
public sealed class NetNamespace : IDisposable
{
    /// <summary>The name prefix when a caller gives none.</summary>
    public const string DefaultPrefix = "tsns-";

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static int s_counter;
    private readonly string _ip;
    private readonly string _etc;
    private bool _disposed;

    private NetNamespace(string name, string ip)
    {
        Name = name;
        _ip = ip;
        _etc = Path.Combine("/etc/netns", name);
    }

    /// <summary>The namespace's name (under /run/netns).</summary>
    public string Name { get; }

    /// <summary>The root namespace's end of the veth, or null without one.</summary>
    public string? HostInterface { get; private set; }

    /// <summary>The root namespace's address on the veth.</summary>
    public IPAddress? HostAddress { get; private set; }

    /// <summary>The namespace's address on the veth: the address tests check from the root namespace.</summary>
    public IPAddress? InsideAddress { get; private set; }

    /// <summary>Why namespaces cannot be made here, or null when they can.</summary>
    public static string? SkipReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        if (!Native.IsRoot)
        {
            return "network namespaces need root (CI runs as root)";
        }

        if (Sh.Which("ip") is null)
        {
            return "'ip' (iproute2) is not installed";
        }

        return null;
    }

    /// <summary>
    /// Creates a namespace with loopback up; with <paramref name="hosts"/>, its own hosts file; with
    /// <paramref name="veth"/>, a veth pair to the root namespace. Names start with <paramref name="prefix"/>
    /// (see <see cref="DeleteLeftovers"/>).
    /// </summary>
    public static NetNamespace Create(bool veth = false, string? hosts = null, string prefix = DefaultPrefix)
    {
        string ip = Sh.Which("ip") ?? throw new InvalidOperationException("'ip' (iproute2) is not installed");
        int id = Interlocked.Increment(ref s_counter);
        string tag = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId % 100_000:x}{id:x}");
        var ns = new NetNamespace(prefix + tag, ip);
        try
        {
            Sh.Run(ip, "netns", "add", ns.Name);
            if (hosts is not null)
            {
                Directory.CreateDirectory(ns._etc);
                File.WriteAllText(Path.Combine(ns._etc, "hosts"), hosts);
            }

            ns.Exec(ip, "link", "set", "lo", "up");
            string addresses = ns.Exec(ip, "-o", "addr", "show", "dev", "lo");
            if (!addresses.Contains("127.0.0.1", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"the loopback of {ns.Name} has no 127.0.0.1:\n{addresses}");
            }

            if (veth)
            {
                ns.AddVeth(tag);
            }

            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Deletes namespaces that an earlier, killed run left behind: only those whose name starts with <paramref name="prefix"/>.</summary>
    public static void DeleteLeftovers(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        (int code, string list, _) = Sh.TryRun(Limit, "ip", "netns", "list");
        if (code != 0)
        {
            return;
        }

        foreach (string line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string name = line.Split(' ')[0];
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                Sh.TryRun(Limit, "ip", "netns", "del", name);
            }
        }
    }

    private void AddVeth(string tag)
    {
        string host = "trh" + tag;
        string inside = "tri" + tag;
        if (host.Length > 15)
        {
            throw new InvalidOperationException($"interface name {host} is too long");
        }

        (IPAddress hostAddress, IPAddress insideAddress) = FreeSubnet();
        Sh.Run(_ip, "link", "add", host, "type", "veth", "peer", "name", inside);
        HostInterface = host;
        Sh.Run(_ip, "link", "set", inside, "netns", Name);
        Sh.Run(_ip, "addr", "add", hostAddress + "/30", "dev", host);
        Sh.Run(_ip, "link", "set", host, "up");
        Exec(_ip, "addr", "add", insideAddress + "/30", "dev", inside);
        Exec(_ip, "link", "set", inside, "up");
        HostAddress = hostAddress;
        InsideAddress = insideAddress;
        AssertRoutedThroughVeth();
    }

    /// <summary>A /30 in 198.18.0.0/15 that no interface or route on this machine uses yet.</summary>
    private (IPAddress Host, IPAddress Inside) FreeSubnet()
    {
        var random = new Random(Environment.ProcessId ^ Environment.TickCount);
        for (int attempt = 0; attempt < 50; attempt++)
        {
#pragma warning disable CA5394 // not security: a random free subnet
            int subnet = random.Next(0, 1 << 15); // 32,768 /30s in 198.18.0.0/15
#pragma warning restore CA5394
            int baseAddress = (198 << 24) | (18 << 16) | (subnet << 2);
            string prefix = ToAddress(baseAddress) + "/30";
            bool addressInUse = Sh.Run(_ip, "-o", "addr", "show", "to", prefix).Trim().Length > 0;
            bool routeInUse = Sh.Run(_ip, "route", "show", "table", "all", "to", "match", ToAddress(baseAddress + 2))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Any(line => !line.StartsWith("default", StringComparison.Ordinal));
            if (!addressInUse && !routeInUse)
            {
                return (IPAddress.Parse(ToAddress(baseAddress + 1)), IPAddress.Parse(ToAddress(baseAddress + 2)));
            }
        }

        throw new InvalidOperationException("no free /30 in 198.18.0.0/15");
    }

    private static string ToAddress(int value) =>
        string.Create(CultureInfo.InvariantCulture, $"{(value >> 24) & 0xff}.{(value >> 16) & 0xff}.{(value >> 8) & 0xff}.{value & 0xff}");

    /// <summary>Throws unless the root namespace routes <see cref="InsideAddress"/> through this namespace's veth.</summary>
    public void AssertRoutedThroughVeth()
    {
        if (InsideAddress is null || HostInterface is null)
        {
            throw new InvalidOperationException("this namespace has no veth");
        }

        string route = Sh.Run(_ip, "-o", "route", "get", InsideAddress.ToString());
        string[] words = route.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int dev = Array.IndexOf(words, "dev");
        if (dev < 0 || dev + 1 >= words.Length || words[dev + 1] != HostInterface || route.Contains(" via ", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"refusing to send: {InsideAddress} is not routed directly through {HostInterface}: {route.Trim()}");
        }

        string link = Sh.Run(_ip, "-o", "link", "show", "dev", HostInterface);
        if (!link.Contains("state UP", StringComparison.Ordinal) && !link.Contains(",UP", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"refusing to send: {HostInterface} is not up: {link.Trim()}");
        }
    }

    /// <summary>Makes <paramref name="port"/> on <see cref="InsideAddress"/> silent (iptables DROP of its SYNs, which the rule counts) and checks the route.</summary>
    public IPEndPoint DropPort(int port) => Target(port, "DROP");

    /// <summary>Makes <paramref name="port"/> answer SYNs with ICMP host unreachable, and checks the route.</summary>
    public IPEndPoint RejectPort(int port) => Target(port, "REJECT", "--reject-with", "icmp-host-unreachable");

    /// <summary>A listener inside the namespace (never accepting), whose SYNs an iptables ACCEPT rule counts; the route is checked.</summary>
    public (LoopbackListener Listener, IPEndPoint Target) ListenCountingSyns()
    {
        LoopbackListener listener = RunInside(() => new LoopbackListener(IPAddress.Any));
        return (listener, Target(listener.Port, "ACCEPT"));
    }

    private IPEndPoint Target(int port, params string[] rule)
    {
        Iptables(["-A", "INPUT", "-p", "tcp", "--syn", "--dport", port.ToString(CultureInfo.InvariantCulture), "-j", .. rule]);
        AssertRoutedThroughVeth();
        return new IPEndPoint(InsideAddress!, port);
    }

    /// <summary>Runs a command inside the namespace (<c>ip netns exec</c>); throws when it fails.</summary>
    public string Exec(string file, params string[] args) => Sh.Run(_ip, ["netns", "exec", Name, file, .. args]);

    /// <summary>Runs a command inside the namespace (<c>ip netns exec</c>) to its end, bounded by <paramref name="within"/>.</summary>
    public (int ExitCode, string Stdout, string Stderr) TryExec(TimeSpan within, string file, params string[] args) =>
        Sh.TryRun(within, _ip, ["netns", "exec", Name, file, .. args]);

    /// <summary>Runs iptables inside the namespace (throws when it is not installed or fails).</summary>
    public string Iptables(params string[] args) =>
        Exec(Sh.Which("iptables") ?? throw new InvalidOperationException("'iptables' is not installed"), ["-w", .. args]);

    /// <summary>Packets counted by the rules of <paramref name="chain"/> whose target is <paramref name="target"/> (only those for <paramref name="port"/> when given).</summary>
    public long IptablesPackets(string chain, string target, int? port = null)
    {
        long total = 0;
        string? portMatch = port is { } p ? string.Create(CultureInfo.InvariantCulture, $"dpt:{p}") : null;
        foreach (string line in Iptables("-L", chain, "-v", "-x", "-n").Split('\n'))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 2 && words[2] == target && (portMatch is null || words.Contains(portMatch)) && long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out long packets))
            {
                total += packets;
            }
        }

        return total;
    }

    /// <summary>The namespace's TCP counters from /proc/net/snmp and /proc/net/netstat read inside it (TcpPassiveOpens, TcpExtEmbryonicRsts, ...).</summary>
    public Dictionary<string, long> ReadCounters() => KernelCounters.Parse(Exec("cat", "/proc/net/snmp", "/proc/net/netstat"));

    /// <summary>One kernel counter of the namespace (for example <c>TcpExtEmbryonicRsts</c>).</summary>
    public long Counter(string name) =>
        ReadCounters().TryGetValue(name, out long value) ? value : throw new InvalidOperationException($"the kernel has no counter {name}");

    /// <summary>Runs <paramref name="action"/> on a new thread that has joined the namespace: sockets it creates live there.</summary>
    public T RunInside<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                JoinOnCurrentThread();
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"running inside {Name} failed", failure);
        }

        return result;
    }

    /// <summary>Moves the calling thread (only it) into the namespace: sockets it creates from now on live there.</summary>
    public void JoinOnCurrentThread()
    {
        using SafeFileHandle handle = File.OpenHandle("/run/netns/" + Name);
        if (Native.SetNs((int)handle.DangerousGetHandle(), Native.CLONE_NEWNET) != 0)
        {
            throw new InvalidOperationException($"setns({Name}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // Processes still inside would keep it alive: end them first (only the ones in this namespace).
        (int code, string pids, _) = Sh.TryRun(Limit, _ip, "netns", "pids", Name);
        if (code == 0)
        {
            foreach (string pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                int id = int.Parse(pid, CultureInfo.InvariantCulture);
                if (id == Environment.ProcessId)
                {
                    continue; // a thread of ours joined it (setns); never end the test process itself
                }

                try
                {
                    using var process = System.Diagnostics.Process.GetProcessById(id);
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
            }
        }

        // Deleting the namespace destroys the veth (both ends); delete the host end too in case the move failed.
        Sh.TryRun(Limit, _ip, "netns", "del", Name);
        if (HostInterface is not null)
        {
            Sh.TryRun(Limit, _ip, "link", "del", HostInterface);
        }

        if (Directory.Exists(_etc))
        {
            Directory.Delete(_etc, recursive: true);
        }
    }
}
