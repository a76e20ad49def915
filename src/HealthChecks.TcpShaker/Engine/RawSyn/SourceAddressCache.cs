using System.Buffers.Binary;
using System.Diagnostics;
using HealthChecks.TcpShaker.Interop;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// The local IPv4 address the kernel sends a raw SYN from to a destination, needed for the TCP
/// checksum of an IPv4 SYN (a wrong one and the target drops the SYN: a false timeout). Loop thread only.
/// </summary>
/// <remarks>
/// <para>
/// The lookup is the raw socket's own route lookup: a raw TCP socket of this cache's, connected to the
/// destination and read with <c>getsockname</c>. Its flow is the one <c>sendmmsg</c> on the engine's raw
/// socket gets (protocol TCP, no ports), so policy routing by protocol (<c>ip rule ... ipproto tcp</c>)
/// gives both the same source; a UDP socket's lookup, as before, matched UDP rules and could pick a
/// source the SYN then did not go out from. A broadcast destination fails it (EACCES, as it fails
/// <c>connect()</c> with ENETUNREACH: that is the check's result).
/// </para>
/// <para>
/// Entries live for <see cref="RefreshAfter"/>, or only <see cref="RefreshAfterTimeout"/> once a check of the
/// destination timed out (a route or address change shows as timeouts): a destination checked every
/// second costs a lookup every 30 s, not every second. The table grows with the destinations, without
/// allocating per check, up to <see cref="MaxEntries"/>; past that, entries due for a refresh go first,
/// then half of the rest, so it never empties in one go.
/// </para>
/// </remarks>
internal sealed unsafe class SourceAddressCache : IDisposable
{
    /// <summary>How long a route lookup is trusted.</summary>
    internal static readonly TimeSpan RefreshAfter = TimeSpan.FromSeconds(30);

    /// <summary>How long a route lookup is trusted after a check of the destination timed out.</summary>
    internal static readonly TimeSpan RefreshAfterTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Destinations kept at the most (about 24 bytes each).</summary>
    internal const int MaxEntries = 1 << 18;

    private readonly Dictionary<uint, Entry> _entries = new(1024); // grows (allocates) only past 1,024 destinations
    private readonly long _refreshTicks = Ticks(RefreshAfter);
    private readonly long _refreshAfterTimeoutTicks = Ticks(RefreshAfterTimeout);
    private readonly int _fd;
    private long _lookups;

    private struct Entry
    {
        internal uint Source;
        internal long LookedUpAt;
        internal long RefreshAt;
    }

    /// <exception cref="EngineStartException">No raw socket for the lookups.</exception>
    internal SourceAddressCache()
    {
        _fd = Libc.Socket(Libc.AF_INET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Libc.IPPROTO_TCP);
        if (_fd < 0)
        {
            throw new EngineStartException("socket(AF_INET, SOCK_RAW, IPPROTO_TCP)", Libc.LastErrno);
        }

        // It never reads: a filter that keeps nothing stops the kernel queueing it a copy of every TCP packet.
        if (ReplyFilters.Attach(_fd, ReplyFilters.DropAll()) is int errno and not 0)
        {
            Libc.Close(_fd);
            throw new EngineStartException("setsockopt(SO_ATTACH_FILTER)", errno);
        }
    }

    /// <summary>Route lookups made so far (a syscall each).</summary>
    internal long Lookups => _lookups;

    /// <summary>Destinations cached now.</summary>
    internal int Count => _entries.Count;

    /// <summary>Finds the source address for <paramref name="destination"/> (both as big-endian numbers).</summary>
    /// <returns>0, or the errno of the route lookup (ENETUNREACH: no route, or a broadcast address), which is the check's result.</returns>
    internal int TryGet(uint destination, long now, out uint source)
    {
        if (_entries.TryGetValue(destination, out Entry entry) && entry.RefreshAt > now)
        {
            source = entry.Source;
            return 0;
        }

        int errno = Lookup(destination, out source);
        if (errno != 0)
        {
            _entries.Remove(destination);
            return errno;
        }

        if (_entries.Count >= MaxEntries && !_entries.ContainsKey(destination))
        {
            MakeRoom(now);
        }

        _entries[destination] = new Entry { Source = source, LookedUpAt = now, RefreshAt = now + _refreshTicks };
        return 0;
    }

    /// <summary>A check of <paramref name="destination"/> timed out: its route is looked up again once its entry is <see cref="RefreshAfterTimeout"/> old.</summary>
    internal void OnTimeout(uint destination)
    {
        ref Entry entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_entries, destination);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry))
        {
            entry.RefreshAt = Math.Min(entry.RefreshAt, entry.LookedUpAt + _refreshAfterTimeoutTicks);
        }
    }

    /// <summary>Drops the entries due for a refresh; if that frees too little, every other entry.</summary>
    private void MakeRoom(long now)
    {
        foreach ((uint destination, Entry entry) in _entries)
        {
            if (entry.RefreshAt <= now)
            {
                _entries.Remove(destination);
            }
        }

        if (_entries.Count >= MaxEntries * 15 / 16)
        {
            bool drop = false;
            foreach (uint destination in _entries.Keys)
            {
                if (drop)
                {
                    _entries.Remove(destination);
                }

                drop = !drop;
            }
        }
    }

    private int Lookup(uint destination, out uint source)
    {
        _lookups++;
        source = 0;
        byte* address = stackalloc byte[16];
        new Span<byte>(address, 16).Clear();

        // Disconnect first (AF_UNSPEC): a connected socket would keep the source its first connect chose.
        *(ushort*)address = 0;
        Libc.Connect(_fd, address, 16);
        *(ushort*)address = Libc.AF_INET;
        BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(address + 4, 4), destination);
        if (Libc.Connect(_fd, address, 16) != 0)
        {
            int errno = Libc.LastErrno;
            return errno == Errno.EACCES ? Errno.ENETUNREACH : errno; // EACCES: a broadcast route; connect() says ENETUNREACH
        }

        int length = 16;
        if (Libc.GetSockName(_fd, address, &length) != 0)
        {
            return Libc.LastErrno;
        }

        source = BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(address + 4, 4));
        return 0;
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public void Dispose() => Libc.Close(_fd);
}
