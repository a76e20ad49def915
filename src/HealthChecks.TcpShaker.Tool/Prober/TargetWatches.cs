using System.Collections.Concurrent;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The watch mode of <c>serve --targets FILE</c>: one <see cref="TcpWatch"/> of the library's monitor per
/// file_sd target, re-read when the file changes (a file system watcher, and a poll on the
/// <see cref="TimeProvider"/> for file systems that raise no events). A file that is not valid is
/// reported and changes nothing: the last good set of watches keeps running. Owns the watches it makes
/// (not the monitor).
/// </summary>
internal sealed class TargetWatches : IDisposable
{
    /// <summary>How often the file's timestamp and size are looked at, whatever the watcher says.</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    /// <summary>How long after a change event the file is read: an editor's write is often several events.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    private readonly string _path;
    private readonly TcpShakerMonitor _monitor;
    private readonly TcpWatchOptions _options;
    private readonly TargetAllowList _allowList;
    private readonly TextWriter _log;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<TcpWatch, WatchEntry> _byWatch = new();
    private readonly Lock _reloading = new();
    private WatchEntry[] _entries = [];
    private (string File, DateTime WrittenUtc, long Length) _lastSeen;
    private long _reloadsSucceeded;
    private long _reloadsFailed;
    private bool _lastReloadSucceeded;
    private FileSystemWatcher? _watcher;
    private ITimer? _poll;
    private ITimer? _settle;
    private bool _disposed;

    internal TargetWatches(string path, TcpShakerMonitor monitor, TcpWatchOptions options, TargetAllowList allowList, TextWriter log, TimeProvider time)
    {
        _path = Path.GetFullPath(path);
        _monitor = monitor;
        _options = options;
        _allowList = allowList;
        _log = log;
        _time = time;
        _monitor.HealthChanged += (_, change) =>
        {
            if (_byWatch.TryGetValue(change.Watch, out WatchEntry? entry))
            {
                entry.Changed();
            }
        };
    }

    /// <summary>The watches running now (a snapshot).</summary>
    internal IReadOnlyList<WatchEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>Reads the file and starts its watches, then follows the file.</summary>
    /// <exception cref="ProberConfigException">The file is not valid at start: there is no last good state to keep.</exception>
    internal void Start()
    {
        Apply(FileSdParser.Load(_path, _allowList), Stamp());
        _lastReloadSucceeded = true;
        _reloadsSucceeded++;
        try
        {
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => Soon();
            _watcher.Created += (_, _) => Soon();
            _watcher.Renamed += (_, _) => Soon();
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception exception) when (exception is IOException or ArgumentException or PlatformNotSupportedException)
        {
            _log.WriteLine($"tcp-shaker serve: {_path}: no file system events ({exception.Message}); looking at it every {Durations.Format(PollInterval)}.");
        }

        _poll = _time.CreateTimer(_ => ReloadIfChanged(), null, PollInterval, PollInterval);
    }

    /// <summary>Reads the file again if its timestamp or size changed since the last read.</summary>
    internal void ReloadIfChanged()
    {
        lock (_reloading)
        {
            if (_disposed || Stamp() == _lastSeen)
            {
                return;
            }

            Reload();
        }
    }

    /// <summary>Reads the file again; when it is not valid, says why and keeps the watches running.</summary>
    internal void Reload()
    {
        lock (_reloading)
        {
            if (_disposed)
            {
                return;
            }

            (string, DateTime, long) stamp = Stamp();
            try
            {
                Apply(FileSdParser.Load(_path, _allowList), stamp);
                _reloadsSucceeded++;
                _lastReloadSucceeded = true;
            }
            catch (ProberConfigException exception)
            {
                _lastSeen = stamp; // the same bad file is reported once, not every poll
                _reloadsFailed++;
                _lastReloadSucceeded = false;
                _log.WriteLine($"tcp-shaker serve: targets file not reloaded: {exception.Message} Keeping the {Entries.Count} watches of the last good read.");
            }
        }
    }

    /// <summary>Writes every watch's series, then the watch mode's own.</summary>
    internal async ValueTask WriteAsync(MetricsTextWriter writer, CancellationToken cancellationToken)
    {
        IReadOnlyList<WatchEntry> entries = Entries;
        writer.Family("tcpshaker_watch_up"u8, "gauge"u8, "1 when the watch's verdict is up (rise successes in a row), 0 when down or unknown."u8);
        foreach (WatchEntry entry in entries)
        {
            Series(writer, "tcpshaker_watch_up"u8, entry, entry.Watch.Health == TcpTargetHealth.Up ? 1 : 0);
            await writer.FlushIfLargeAsync(cancellationToken);
        }

        writer.Family("tcpshaker_watch_state"u8, "gauge"u8, "The watch's verdict as a state set: 1 for the state it is in (up, down, unknown)."u8);
        foreach (WatchEntry entry in entries)
        {
            TcpTargetHealth health = entry.Watch.Health;
            State(writer, entry, "up"u8, health == TcpTargetHealth.Up);
            State(writer, entry, "down"u8, health == TcpTargetHealth.Down);
            State(writer, entry, "unknown"u8, health == TcpTargetHealth.Unknown);
            await writer.FlushIfLargeAsync(cancellationToken);
        }

        writer.Family("tcpshaker_watch_since_timestamp_seconds"u8, "gauge"u8, "When the watch's verdict last changed (Unix time)."u8);
        foreach (WatchEntry entry in entries)
        {
            Series(writer, "tcpshaker_watch_since_timestamp_seconds"u8, entry, entry.Watch.Since.ToUnixTimeMilliseconds() / 1000.0);
            await writer.FlushIfLargeAsync(cancellationToken);
        }

        writer.Family("tcpshaker_watch_checks_total"u8, "counter"u8, "Checks the watch has made."u8);
        foreach (WatchEntry entry in entries)
        {
            Series(writer, "tcpshaker_watch_checks_total"u8, entry, entry.Watch.Checks);
            await writer.FlushIfLargeAsync(cancellationToken);
        }

        writer.Family("tcpshaker_watch_changes_total"u8, "counter"u8, "Changes of the watch's verdict (unknown to up counts)."u8);
        foreach (WatchEntry entry in entries)
        {
            Series(writer, "tcpshaker_watch_changes_total"u8, entry, entry.Changes);
            await writer.FlushIfLargeAsync(cancellationToken);
        }

        writer.Family("tcpshaker_prober_watches"u8, "gauge"u8, "Watches running (targets of the --targets file)."u8);
        writer.Sample("tcpshaker_prober_watches"u8, entries.Count);
        writer.Family("tcpshaker_prober_targets_file_reloads_total"u8, "counter"u8, "Reads of the --targets file, by result (a failed read keeps the last good watches)."u8);
        writer.Sample("tcpshaker_prober_targets_file_reloads_total"u8, "result"u8, "success", Volatile.Read(ref _reloadsSucceeded));
        writer.Sample("tcpshaker_prober_targets_file_reloads_total"u8, "result"u8, "failure", Volatile.Read(ref _reloadsFailed));
        writer.Family("tcpshaker_prober_targets_file_last_reload_successful"u8, "gauge"u8, "1 when the last read of the --targets file was valid."u8);
        writer.Sample("tcpshaker_prober_targets_file_last_reload_successful"u8, Volatile.Read(ref _lastReloadSucceeded) ? 1 : 0);
    }

    public void Dispose()
    {
        lock (_reloading)
        {
            _disposed = true;
            _watcher?.Dispose();
            _poll?.Dispose();
            _settle?.Dispose();
            foreach (WatchEntry entry in _entries)
            {
                entry.Watch.Dispose();
            }

            _entries = [];
            _byWatch.Clear();
        }
    }

    private static void Series(MetricsTextWriter writer, ReadOnlySpan<byte> name, WatchEntry entry, double value)
    {
        writer.Raw(name);
        writer.Raw("{"u8);
        writer.Raw(entry.Labels);
        writer.Raw("} "u8);
        writer.Value(value);
        writer.Raw("\n"u8);
    }

    private static void Series(MetricsTextWriter writer, ReadOnlySpan<byte> name, WatchEntry entry, long value)
    {
        writer.Raw(name);
        writer.Raw("{"u8);
        writer.Raw(entry.Labels);
        writer.Raw("} "u8);
        writer.Value(value);
        writer.Raw("\n"u8);
    }

    private static void State(MetricsTextWriter writer, WatchEntry entry, ReadOnlySpan<byte> state, bool on)
    {
        writer.Raw("tcpshaker_watch_state{"u8);
        writer.Raw(entry.Labels);
        writer.Raw(",state=\""u8);
        writer.Raw(state);
        writer.Raw(on ? "\"} 1\n"u8 : "\"} 0\n"u8);
    }

    /// <summary>A change event: read the file once the writes have settled.</summary>
    private void Soon()
    {
        lock (_reloading)
        {
            if (_disposed)
            {
                return;
            }

            _settle ??= _time.CreateTimer(_ => ReloadIfChanged(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _settle.Change(Settle, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Replaces the watches with <paramref name="targets"/>': a watch whose target and labels are unchanged keeps running (and its state).</summary>
    private void Apply(IReadOnlyList<FileSdTarget> targets, (string, DateTime, long) stamp)
    {
        WatchEntry[] previous = _entries;
        var old = new Dictionary<string, WatchEntry>(StringComparer.Ordinal);
        foreach (WatchEntry entry in previous)
        {
            old.TryAdd(entry.Target.Key, entry);
        }

        var next = new List<WatchEntry>(targets.Count);
        var kept = new HashSet<WatchEntry>();
        foreach (FileSdTarget target in targets)
        {
            if (old.TryGetValue(target.Key, out WatchEntry? existing) && kept.Add(existing))
            {
                next.Add(existing);
                continue;
            }

            TcpWatch watch = _monitor.Watch(target.Endpoint, _options);
            var entry = new WatchEntry(target, watch);
            _byWatch[watch] = entry;
            next.Add(entry);
        }

        Volatile.Write(ref _entries, [.. next]);
        foreach (WatchEntry gone in previous.Where(entry => !kept.Contains(entry)))
        {
            _byWatch.TryRemove(gone.Watch, out _);
            gone.Watch.Dispose();
        }

        _lastSeen = stamp;
    }

    /// <summary>
    /// The file the path leads to, its time and size. Links are followed to the file itself: a Kubernetes ConfigMap volume
    /// updates a file by swapping the <c>..data</c> link under the file's own link, which keeps the link's own time.
    /// </summary>
    private (string File, DateTime WrittenUtc, long Length) Stamp()
    {
        string file = _path;
        try
        {
            file = File.ResolveLinkTarget(_path, returnFinalTarget: true)?.FullName ?? _path;
        }
        catch (IOException)
        {
            // missing, or a link loop: the read that follows says which
        }

        var info = new FileInfo(file);
        return info.Exists ? (file, info.LastWriteTimeUtc, info.Length) : ("", DateTime.MinValue, -1);
    }
}
