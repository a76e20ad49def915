
namespace HealthChecks.TcpShaker.Engine.Loop;

/// <summary>A binary min-heap of a loop's scheduled checks by due time; each check knows its position, so a removed watch leaves at once. Loop thread only.</summary>
internal sealed class WatchSchedule
{
    private ScheduledCheck[] _heap = new ScheduledCheck[16];

    internal int Count { get; private set; }

    /// <summary>The nearest due time; only when <see cref="Count"/> &gt; 0.</summary>
    internal long NearestDue => _heap[0].Due;

    internal ScheduledCheck Nearest => _heap[0];

    internal void Add(ScheduledCheck check)
    {
        if (Count == _heap.Length)
        {
            Array.Resize(ref _heap, _heap.Length * 2);
        }

        Place(check, Count++);
        SiftUp(Count - 1);
    }

    internal void Remove(ScheduledCheck check)
    {
        int index = check.HeapIndex;
        check.HeapIndex = -1;
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
        ScheduledCheck check = _heap[index];
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (_heap[parent].Due <= check.Due)
            {
                break;
            }

            Place(_heap[parent], index);
            index = parent;
        }

        Place(check, index);
    }

    private void SiftDown(int index)
    {
        ScheduledCheck check = _heap[index];
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

            if (_heap[child].Due >= check.Due)
            {
                break;
            }

            Place(_heap[child], index);
            index = child;
        }

        Place(check, index);
    }

    private void Place(ScheduledCheck check, int index)
    {
        _heap[index] = check;
        check.HeapIndex = index;
    }
}
