using HealthChecks.TcpShaker.Monitoring;

namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>A binary min-heap of a loop's watch probes by due time; each probe knows its position, so a removed watch leaves at once. Loop thread only.</summary>
internal sealed class WatchSchedule
{
    private WatchProbe[] _heap = new WatchProbe[16];

    internal int Count { get; private set; }

    /// <summary>The nearest due time; only when <see cref="Count"/> &gt; 0.</summary>
    internal long NearestDue => _heap[0].Due;

    internal WatchProbe Nearest => _heap[0];

    internal void Add(WatchProbe probe)
    {
        if (Count == _heap.Length)
        {
            Array.Resize(ref _heap, _heap.Length * 2);
        }

        Place(probe, Count++);
        SiftUp(Count - 1);
    }

    internal void Remove(WatchProbe probe)
    {
        int index = probe.HeapIndex;
        probe.HeapIndex = -1;
        Count--;
        if (index != Count)
        {
            Place(_heap[Count], index);
            SiftDown(index);
            SiftUp(index);
        }

        _heap[Count] = null!;
    }

    private void SiftUp(int index)
    {
        WatchProbe probe = _heap[index];
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (_heap[parent].Due <= probe.Due)
            {
                break;
            }

            Place(_heap[parent], index);
            index = parent;
        }

        Place(probe, index);
    }

    private void SiftDown(int index)
    {
        WatchProbe probe = _heap[index];
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && _heap[child + 1].Due < _heap[child].Due)
            {
                child++;
            }

            if (_heap[child].Due >= probe.Due)
            {
                break;
            }

            Place(_heap[child], index);
            index = child;
        }

        Place(probe, index);
    }

    private void Place(WatchProbe probe, int index)
    {
        _heap[index] = probe;
        probe.HeapIndex = index;
    }
}
