namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>
/// A binary min-heap of in-flight slots ordered by deadline. Each entry knows its heap position, so
/// a check that completes early leaves the heap at once (no stale entries piling up). Loop thread only.
/// </summary>
internal sealed class DeadlineHeap
{
    private readonly InFlightTable _table;
    private int[] _heap;

    internal DeadlineHeap(InFlightTable table)
    {
        _table = table;
        _heap = new int[table.Capacity];
    }

    internal int Count { get; private set; }

    /// <summary>The nearest deadline, in <see cref="System.Diagnostics.Stopwatch"/> ticks; only when <see cref="Count"/> &gt; 0.</summary>
    internal long NearestDeadline => _table[_heap[0]].Deadline;

    internal int NearestSlot => _heap[0];

    internal void Add(int slot)
    {
        if (Count == _heap.Length)
        {
            Array.Resize(ref _heap, _heap.Length * 2);
        }

        _heap[Count] = slot;
        _table[slot].HeapIndex = Count;
        Count++;
        SiftUp(Count - 1);
    }

    internal void Remove(int slot)
    {
        int index = _table[slot].HeapIndex;
        Count--;
        if (index != Count)
        {
            Move(_heap[Count], index);
            SiftDown(index);
            SiftUp(index);
        }
    }

    private void SiftUp(int index)
    {
        int slot = _heap[index];
        long deadline = _table[slot].Deadline;
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (_table[_heap[parent]].Deadline <= deadline)
            {
                break;
            }

            Move(_heap[parent], index);
            index = parent;
        }

        Move(slot, index);
    }

    private void SiftDown(int index)
    {
        int slot = _heap[index];
        long deadline = _table[slot].Deadline;
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && _table[_heap[child + 1]].Deadline < _table[_heap[child]].Deadline)
            {
                child++;
            }

            if (_table[_heap[child]].Deadline >= deadline)
            {
                break;
            }

            Move(_heap[child], index);
            index = child;
        }

        Move(slot, index);
    }

    private void Move(int slot, int index)
    {
        _heap[index] = slot;
        _table[slot].HeapIndex = index;
    }
}
