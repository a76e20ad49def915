using System.Runtime.CompilerServices;

namespace HealthChecks.TcpShaker.Monitoring;

/// <summary>
/// A watch's last <see cref="TcpWatch.HistoryLength"/> results, 8 bytes each inside the watch (no array of its own):
/// the status, the time taken to the microsecond (up to 35 minutes) and the time of completion to the millisecond
/// (kept as the distance from the newest result, which is kept whole). A watch's results lie within a day or so of
/// each other (intervals are at most an hour), far inside the 12 days the distance can span.
/// </summary>
internal struct WatchHistory
{
    private const int StatusBits = 3;
    private const int ElapsedBits = 31;
    private const int AtBits = 64 - StatusBits - ElapsedBits;
    private const long MaxElapsedMicroseconds = (1L << ElapsedBits) - 1;
    private const long AtMask = (1L << AtBits) - 1;

    private Ring _ring;
    private long _count;
    private long _newestAtMs;

    /// <summary>Records a result. Under the watch's lock.</summary>
    internal void Add(TcpCheckStatus status, TimeSpan elapsed, DateTimeOffset at)
    {
        long atMs = at.ToUnixTimeMilliseconds();
        long elapsedUs = Math.Clamp((long)elapsed.TotalMicroseconds, 0, MaxElapsedMicroseconds);
        _ring[(int)(_count++ % TcpWatch.HistoryLength)] =
            (ulong)status | ((ulong)elapsedUs << StatusBits) | ((ulong)(atMs & AtMask) << (StatusBits + ElapsedBits));
        _newestAtMs = atMs;
    }

    /// <summary>The results, oldest first (a copy). Under the watch's lock.</summary>
    internal readonly TcpWatchSample[] Snapshot()
    {
        int length = (int)Math.Min(_count, TcpWatch.HistoryLength);
        var samples = new TcpWatchSample[length];
        long newestLow = _newestAtMs & AtMask;
        for (int i = 0; i < length; i++)
        {
            ulong packed = _ring[(int)((_count - length + i) % TcpWatch.HistoryLength)];
            long atLow = (long)(packed >> (StatusBits + ElapsedBits));
            long atMs = _newestAtMs - ((newestLow - atLow) & AtMask);
            samples[i] = new TcpWatchSample(
                (TcpCheckStatus)(packed & ((1UL << StatusBits) - 1)),
                TimeSpan.FromMicroseconds((long)((packed >> StatusBits) & MaxElapsedMicroseconds)),
                DateTimeOffset.FromUnixTimeMilliseconds(atMs));
        }

        return samples;
    }

    [InlineArray(TcpWatch.HistoryLength)]
    private struct Ring
    {
        private ulong _element;
    }
}
