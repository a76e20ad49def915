using System.Globalization;
using System.Net;
using HealthChecks.TcpShaker.Tests.Support;
using Microsoft.Win32.SafeHandles;

namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>
/// A network namespace of the test's own, deleted on dispose (also when the test fails): loopback up,
/// optionally a veth pair with a /30 from 198.18.0.0/15 (RFC 2544 benchmarking range) on both sides,
/// iptables rules inside it. Before anything is sent, <see cref="Create"/> checks that the route from
/// the root namespace to <see cref="InsideAddress"/> goes through the veth, so no packet aimed at the
/// namespace can leave through the default route.
/// </summary>
public sealed class NetNamespace : IDisposable
{
    private static int s_counter;
    private readonly string _ip;
    private readonly string _iptables;
    private bool _disposed;

    private NetNamespace(string name, string ip, string iptables)
    {
        Name = name;
        _ip = ip;
        _iptables = iptables;
    }

    /// <summary>The namespace's name (under /run/netns).</summary>
    public string Name { get; }

    /// <summary>The root namespace's end of the veth, or null without one.</summary>
    public string? HostInterface { get; private set; }

    /// <summary>The root namespace's address on the veth.</summary>
    public IPAddress? HostAddress { get; private set; }

    /// <summary>The namespace's address on the veth: the address tests check from the root namespace.</summary>
    public IPAddress? InsideAddress { get; private set; }

    /// <summary>Why namespace tests cannot run here, or null when they can.</summary>
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

        if (Sh.Which("iptables") is null)
        {
            return "'iptables' is not installed";
        }

        return null;
    }

    /// <summary>Skips the calling test (with the reason) when namespaces cannot be made here.</summary>
    public static void SkipUnlessAvailable()
    {
        string? reason = SkipReason();
        Assert.SkipWhen(reason is not null, reason ?? string.Empty);
    }

    /// <summary>Creates a namespace with loopback up and, when <paramref name="veth"/>, a veth pair to the root namespace.</summary>
    public static NetNamespace Create(bool veth = true)
    {
        string ip = Sh.Which("ip")!;
        string iptables = Sh.Which("iptables")!;
        int id = Interlocked.Increment(ref s_counter);
        string tag = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId % 100_000:x}{id:x}");
        var ns = new NetNamespace("tsrel-" + tag, ip, iptables);
        try
        {
            Sh.Run(ip, "netns", "add", ns.Name);
            ns.Exec(ip, "link", "set", "lo", "up");
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
            int subnet = random.Next(0, 1 << 15); // 32,768 /30s in 198.18.0.0/15
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

    /// <summary>Runs a command inside the namespace (<c>ip netns exec</c>).</summary>
    public string Exec(string file, params string[] args) => Sh.Run("ip", ["netns", "exec", Name, file, .. args]);

    /// <summary>Runs iptables inside the namespace.</summary>
    public string Iptables(params string[] args) => Exec(_iptables, ["-w", .. args]);

    /// <summary>Packets counted by the rules of <paramref name="chain"/> whose target is <paramref name="target"/>.</summary>
    public long IptablesPackets(string chain, string target)
    {
        long total = 0;
        foreach (string line in Iptables("-L", chain, "-v", "-x", "-n").Split('\n'))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 2 && words[2] == target && long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out long packets))
            {
                total += packets;
            }
        }

        return total;
    }

    /// <summary>A kernel counter of the namespace from <c>nstat -az</c> (for example <c>TcpExtEmbryonicRsts</c>).</summary>
    public long Counter(string name)
    {
        foreach (string line in Exec("nstat", "-az", name).Split('\n'))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 2 && words[0] == name)
            {
                return long.Parse(words[1], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"nstat has no counter {name}");
    }

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
            throw new InvalidOperationException("running inside the namespace failed", failure);
        }

        return result;
    }

    /// <summary>Moves the calling thread (only it) into the namespace: sockets it creates from now on live there.</summary>
    public void JoinOnCurrentThread()
    {
        using SafeFileHandle handle = File.OpenHandle("/run/netns/" + Name);
        if (Native.setns((int)handle.DangerousGetHandle(), Native.CLONE_NEWNET) != 0)
        {
            throw new InvalidOperationException($"setns({Name}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Moves every loop thread of a started <see cref="TcpShaker"/> into the namespace.</summary>
    public async Task JoinLoopsAsync(TcpShaker shaker)
    {
        await shaker.StartAsync();
        var engine = (Engine.Epoll.HalfOpenEngine)shaker.Engine!;
        var joined = new List<Task>();
        foreach (Engine.Epoll.EpollLoop loop in engine.Loops)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(_ =>
            {
                try
                {
                    JoinOnCurrentThread();
                    done.SetResult();
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
            joined.Add(done.Task);
        }

        await Task.WhenAll(joined).WaitAsync(TimeSpan.FromSeconds(10));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // Deleting the namespace destroys the veth (both ends); delete the host end too in case the move failed.
        Sh.TryRun(TimeSpan.FromSeconds(20), _ip, "netns", "del", Name);
        if (HostInterface is not null)
        {
            Sh.TryRun(TimeSpan.FromSeconds(20), _ip, "link", "del", HostInterface);
        }
    }
}
