using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>Skipping without CAP_NET_RAW (<see cref="RawSocketAccess"/>), and a way to lose a capability on one thread.</summary>
internal static partial class RawSockets
{
    internal const int CapNetRaw = 13;
    internal const int CapSysNice = 23;
    private const uint CapabilityVersion3 = 0x20080522;

    internal static void SkipUnlessPermitted()
    {
        string? reason = RawSocketAccess.SkipReason();
        Assert.SkipWhen(reason is not null, reason ?? string.Empty);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    [LibraryImport("libc", EntryPoint = "capget", SetLastError = true)]
    private static unsafe partial int CapGet(CapHeader* header, CapData* data);

    [LibraryImport("libc", EntryPoint = "capset", SetLastError = true)]
    private static unsafe partial int CapSet(CapHeader* header, CapData* data);

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread whose effective capabilities lack <paramref name="capability"/>
    /// (capabilities are per thread; threads it starts inherit the lack).
    /// </summary>
    internal static T RunWithoutCapability<T>(int capability, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                DropOnThisThread(capability);
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return failure is null ? result : throw new InvalidOperationException($"running without capability {capability} failed", failure);
    }

    private static unsafe void DropOnThisThread(int capability)
    {
        CapHeader header = new() { Version = CapabilityVersion3, Pid = 0 };
        CapData* data = stackalloc CapData[2];
        if (CapGet(&header, data) != 0)
        {
            throw new InvalidOperationException($"capget failed with errno {Marshal.GetLastPInvokeError()}");
        }

        data[0].Effective &= ~(1u << capability);
        if (CapSet(&header, data) != 0)
        {
            throw new InvalidOperationException($"capset failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }
}
