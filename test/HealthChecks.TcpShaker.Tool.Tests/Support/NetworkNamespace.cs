using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Tool.Tests.Support;

/// <summary>
/// A network namespace of a test's own, with only its loopback up: traffic in it never leaves it.
/// <c>ip netns exec</c> bind-mounts <c>/etc/netns/NAME/hosts</c> over <c>/etc/hosts</c>, so a test can
/// give a name the addresses it wants. Needs root and <c>ip</c>; deleted (with its processes and
/// its hosts folder) on dispose.
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly string _etc;

    private NetworkNamespace(string name)
    {
        Name = name;
        _etc = Path.Combine("/etc/netns", name);
    }

    public string Name { get; }

    /// <summary>Why namespaces cannot be made here, or null when they can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces are Linux only";
        }

        if (Environment.UserName != "root")
        {
            return "network namespaces need root (CI runs as root)";
        }

        return File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip") ? null : "the 'ip' command (iproute2) is not installed";
    }

    /// <summary>Creates the namespace, brings its loopback up (127.0.0.1 and ::1) and writes its hosts file.</summary>
    public static async Task<NetworkNamespace> CreateAsync(string hosts)
    {
        var ns = new NetworkNamespace($"tcpshaker-tool-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        try
        {
            await MustAsync("ip", "netns", "add", ns.Name);
            Directory.CreateDirectory(ns._etc);
            await File.WriteAllTextAsync(Path.Combine(ns._etc, "hosts"), hosts);
            await MustAsync("ip", "netns", "exec", ns.Name, "ip", "link", "set", "lo", "up");
            ToolRun addresses = await ns.RunAsync("ip", "-o", "addr", "show", "dev", "lo");
            if (!addresses.Out.Contains("127.0.0.1", StringComparison.Ordinal) || !addresses.Out.Contains("::1", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"the namespace's loopback lacks 127.0.0.1 or ::1:\n{addresses}");
            }

            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Runs a program inside the namespace to its end.</summary>
    public Task<ToolRun> RunAsync(params string[] command) =>
        ToolRunner.RunProcessAsync("ip", ["netns", "exec", Name, .. command], Limit);

    /// <summary>
    /// A listening socket inside the namespace that never accepts: made on a thread of its own that
    /// first joins the namespace (setns), since a socket belongs to the namespace it was created in.
    /// </summary>
    public Socket Listen(IPEndPoint endPoint)
    {
        Socket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(Path.Combine("/var/run/netns", Name));
                if (SetNs(handle, CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {Name} failed: errno {Marshal.GetLastPInvokeError()}");
                }

                socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(endPoint);
                socket.Listen(16);
            }
            catch (Exception e) when (e is SocketException or IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                socket?.Dispose();
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return failure is null ? socket! : throw new InvalidOperationException($"no listener on {endPoint} in {Name}", failure);
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(Microsoft.Win32.SafeHandles.SafeFileHandle fd, int nstype);

    public void Dispose()
    {
        try
        {
            ToolRun pids = ToolRunner.RunProcessAsync("ip", ["netns", "pids", Name], Limit).GetAwaiter().GetResult();
            foreach (string pid in pids.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    using Process process = Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
            }
        }
        finally
        {
            ToolRunner.RunProcessAsync("ip", ["netns", "del", Name], Limit).GetAwaiter().GetResult();
            if (Directory.Exists(_etc))
            {
                Directory.Delete(_etc, recursive: true);
            }
        }
    }

    private static async Task MustAsync(string fileName, params string[] args)
    {
        ToolRun run = await ToolRunner.RunProcessAsync(fileName, args, Limit);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', args)} failed:\n{run}");
        }
    }
}
