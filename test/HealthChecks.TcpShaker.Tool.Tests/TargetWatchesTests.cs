using System.IO.Pipelines;
using System.Text;
using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Tool.Prober;
using Microsoft.Extensions.Time.Testing;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// The watch mode's targets file followed on a fake clock (file system events only arm a timer on it, and
/// the 5 s poll is on it too): nothing is re-read until the clock moves; a bad file keeps the last good
/// watches; a good one replaces them, keeping the unchanged ones running. Real watches on loopback.
/// </summary>
public sealed class TargetWatchesTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tcp-shaker-targets-").FullName;
    private readonly StringWriter _log = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private TcpShaker _shaker = null!;
    private TcpShakerMonitor _monitor = null!;

    public async ValueTask InitializeAsync()
    {
        _shaker = new TcpShaker();
        await _shaker.StartAsync(TestContext.Current.CancellationToken);
        _monitor = new TcpShakerMonitor(_shaker);
    }

    public async ValueTask DisposeAsync()
    {
        await _monitor.DisposeAsync();
        await _shaker.DisposeAsync();
        _log.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_rewrite_is_read_when_the_clock_moves_a_bad_one_keeps_the_last_good_watches_and_unchanged_watches_keep_running()
    {
        string path = Path.Combine(_dir, "fleet.json");
        File.WriteAllText(path, """[{"targets": ["127.0.0.1:7001", "127.0.0.1:7002"], "labels": {"env": "prod"}}]""");
        using var watches = new TargetWatches(path, _monitor, new TcpWatchOptions(), TargetAllowList.Everything, _log, _time);
        watches.Start();
        WatchEntry kept = watches.Entries[0];

        File.WriteAllText(path, """[{"targets": ["127.0.0.1:7001"], "labels": {"env": 5}}]""");
        Assert.Equal(2, watches.Entries.Count); // not read before the clock moves
        _time.Advance(TargetWatches.PollInterval);

        Assert.Equal(["127.0.0.1:7001", "127.0.0.1:7002"], watches.Entries.Select(e => e.Target.Target));
        Assert.Equal($"tcp-shaker serve: targets file not reloaded: {path}: group 1: label 'env' is not a string. Keeping the 2 watches of the last good read.\n", _log.ToString());
        Assert.False(kept.Watch.IsDisposed);

        File.WriteAllText(path, """[{"targets": ["127.0.0.1:7001", "127.0.0.1:7003"], "labels": {"env": "prod"}}, {"targets": ["127.0.0.1:7002"], "labels": {"env": "staging"}}]""");
        _time.Advance(TargetWatches.PollInterval);

        Assert.Equal(["127.0.0.1:7001/prod", "127.0.0.1:7003/prod", "127.0.0.1:7002/staging"], watches.Entries.Select(e => $"{e.Target.Target}/{e.Target.Labels[0].Value}"));
        Assert.Same(kept, watches.Entries[0]); // same target, same labels: the same watch, still running
        Assert.False(kept.Watch.IsDisposed);
        Assert.Equal(3, _monitor.Watches.Count); // the old 127.0.0.1:7002 (env=prod) stopped
    }

    [Fact]
    public void A_configmap_volumes_symlink_swap_is_read_when_the_clock_moves()
    {
        // The kubelet's layout: fleet.json -> ..data/fleet.json, ..data -> ..<timestamp>; an update writes a new
        // timestamped directory and renames a new ..data link over the old one. The file's own link never changes.
        void Version(string name, string json)
        {
            Directory.CreateDirectory(Path.Combine(_dir, name));
            File.WriteAllText(Path.Combine(_dir, name, "fleet.json"), json);
            File.CreateSymbolicLink(Path.Combine(_dir, "..data_tmp"), name);
            Sh.Run("mv", "-T", Path.Combine(_dir, "..data_tmp"), Path.Combine(_dir, "..data")); // rename(2), as the kubelet does
        }

        Version("..2026_12_04_01_00_00.1", """[{"targets": ["127.0.0.1:7001", "127.0.0.1:7002"]}]""");
        string path = Path.Combine(_dir, "fleet.json");
        File.CreateSymbolicLink(path, Path.Combine("..data", "fleet.json"));
        using var watches = new TargetWatches(path, _monitor, new TcpWatchOptions(), TargetAllowList.Everything, _log, _time);
        watches.Start();
        Assert.Equal(["127.0.0.1:7001", "127.0.0.1:7002"], watches.Entries.Select(e => e.Target.Target));

        // The same size as the first version; the link fleet.json itself keeps its time (what was looked at before).
        Version("..2026_12_04_01_05_00.2", """[{"targets": ["127.0.0.1:7003", "127.0.0.1:7004"]}]""");
        _time.Advance(TargetWatches.PollInterval);

        Assert.Equal(["127.0.0.1:7003", "127.0.0.1:7004"], watches.Entries.Select(e => e.Target.Target));
        Assert.Equal(2, _monitor.Watches.Count);
    }

    [Fact]
    public async Task Label_values_are_escaped_and_the_exposition_groups_each_family()
    {
        string path = Path.Combine(_dir, "fleet.yml");
        File.WriteAllText(path, "- targets: ['127.0.0.1:7001']\n  labels:\n    note: \"say \\\"hi\\\" \\\\ bye\\nnext\"\n");
        // An hour's interval: the watch has no verdict yet when the exposition is read (its first check falls in the hour).
        using var watches = new TargetWatches(path, _monitor, new TcpWatchOptions { Interval = TimeSpan.FromHours(1) }, TargetAllowList.Everything, _log, _time);
        watches.Start();
        var pipe = new Pipe();
        var writer = new MetricsTextWriter(pipe.Writer);

        await watches.WriteAsync(writer, TestContext.Current.CancellationToken);
        await writer.FlushAsync(TestContext.Current.CancellationToken);
        await pipe.Writer.CompleteAsync();
        string text = Encoding.UTF8.GetString(await ReadAllAsync(pipe.Reader));

        Assert.Contains("tcpshaker_watch_up{target=\"127.0.0.1:7001\",note=\"say \\\"hi\\\" \\\\ bye\\nnext\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("tcpshaker_watch_state{target=\"127.0.0.1:7001\",note=\"say \\\"hi\\\" \\\\ bye\\nnext\",state=\"unknown\"} 1\n", text, StringComparison.Ordinal);
        string[] families = [.. text.Split('\n').Where(line => line.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(line => line.Split(' ')[2])];
        Assert.Equal(families.Distinct(), families);
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader reader)
    {
        using var buffer = new MemoryStream();
        await reader.CopyToAsync(buffer, TestContext.Current.CancellationToken);
        return buffer.ToArray();
    }
}
