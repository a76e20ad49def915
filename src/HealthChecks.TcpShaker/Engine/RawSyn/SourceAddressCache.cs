using System.Buffers.Binary;
using System.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The local IPv4 address the kernel would send from to a destination (its route lookup, read as
/// the local address of a connected UDP socket), needed for the TCP checksum of an IPv4 SYN. Kept for
/// <see cref="Lifetime"/> only, so a route or address change is followed within it. Loop thread only.
/// </summary>
internal sealed unsafe class SourceAddressCache
{
    /// <summary>How long a route lookup is trusted.</summary>
    internal static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);

    private const int MaxEntries = 4096;

    private readonly Dictionary<uint, (uint Source, long ValidUntil)> _entries = [];
    private readonly long _lifetimeTicks = (long)(Lifetime.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Finds the source address for <paramref name="destination"/> (both as big-endian numbers).</summary>
    /// <returns>0, or the errno of the route lookup (ENETUNREACH: no route), which is the check's result.</returns>
    internal int TryGet(uint destination, ushort port, long now, out uint source)
    {
        if (_entries.TryGetValue(destination, out (uint Source, long ValidUntil) entry) && entry.ValidUntil > now)
        {
            source = entry.Source;
            return 0;
        }

        int errno = Lookup(destination, port, out source);
        if (errno == 0)
        {
            if (_entries.Count >= MaxEntries)
            {
                _entries.Clear();
            }

            _entries[destination] = (source, now + _lifetimeTicks);
        }

        return errno;
    }

    private static int Lookup(uint destination, ushort port, out uint source)
    {
        source = 0;
        int fd = Libc.Socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return Libc.LastErrno;
        }

        try
        {
            byte* address = stackalloc byte[16];
            new Span<byte>(address, 16).Clear();
            *(ushort*)address = Libc.AF_INET;
            BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(address + 2, 2), port);
            BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(address + 4, 4), destination);
            if (Libc.Connect(fd, address, 16) != 0)
            {
                return Libc.LastErrno;
            }

            int length = 16;
            if (Libc.GetSockName(fd, address, &length) != 0)
            {
                return Libc.LastErrno;
            }

            source = BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(address + 4, 4));
            return 0;
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
