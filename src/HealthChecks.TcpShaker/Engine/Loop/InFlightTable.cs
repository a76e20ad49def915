namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// The sockets a loop is waiting on, by slot. Each slot carries a generation that changes whenever
/// the slot is freed, and an epoll registration carries both (<see cref="Token"/>): an event that
/// arrives for a socket already closed (whose fd number the kernel may have handed out again) no
/// longer matches its slot's generation and is ignored. Keying by fd alone would report the new
/// socket's check as open. Loop thread only.
/// </summary>
internal sealed class InFlightTable
{
    private Entry[] _entries;
    private int[] _free;
    private int _freeCount;

    internal InFlightTable(int initialCapacity)
    {
        _entries = new Entry[initialCapacity];
        _free = new int[initialCapacity];
        for (int i = 0; i < initialCapacity; i++)
        {
            _free[i] = initialCapacity - 1 - i;
        }

        _freeCount = initialCapacity;
    }

    internal struct Entry
    {
        internal int Fd;
        internal uint Generation;
        internal LoopCheck? Check;
        internal long Deadline;
        internal int HeapIndex;
    }

    internal int Capacity => _entries.Length;

    /// <summary>Packs a slot and its generation into epoll's 64-bit user data.</summary>
    internal static ulong Token(int slot, uint generation) => ((ulong)generation << 32) | (uint)slot;

    internal ref Entry this[int slot] => ref _entries[slot];

    internal int Add(int fd, LoopCheck check)
    {
        if (_freeCount == 0)
        {
            Grow();
        }

        int slot = _free[--_freeCount];
        ref Entry entry = ref _entries[slot];
        entry.Fd = fd;
        entry.Check = check;
        entry.Deadline = check.Deadline;
        return slot;
    }

    /// <summary>Finds the live slot an epoll token names, or -1 when the token is stale.</summary>
    internal int Resolve(ulong token)
    {
        int slot = (int)(uint)token;
        uint generation = (uint)(token >> 32);
        return (uint)slot < (uint)_entries.Length && _entries[slot].Check is not null && _entries[slot].Generation == generation
            ? slot
            : -1;
    }

    /// <summary>Frees a slot and returns its check; the slot's generation moves on.</summary>
    internal LoopCheck Remove(int slot)
    {
        ref Entry entry = ref _entries[slot];
        LoopCheck check = entry.Check!;
        entry.Check = null;
        entry.Fd = -1;
        entry.Generation++;
        _free[_freeCount++] = slot;
        return check;
    }

    private void Grow()
    {
        int old = _entries.Length;
        int size = old * 2;
        Array.Resize(ref _entries, size);
        Array.Resize(ref _free, size);
        for (int i = size - 1; i >= old; i--)
        {
            _free[_freeCount++] = i;
        }
    }
}
