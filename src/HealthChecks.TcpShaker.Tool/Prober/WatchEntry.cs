using System.Text;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>One watch of <c>--targets</c>: the monitor's <see cref="TcpWatch"/>, its labels rendered once, and its count of changes.</summary>
internal sealed class WatchEntry
{
    private long _changes;

    internal WatchEntry(FileSdTarget target, TcpWatch watch)
    {
        Target = target;
        Watch = watch;
        var labels = new StringBuilder("target=\"").Append(Escape(target.Target)).Append('"');
        foreach (KeyValuePair<string, string> label in target.Labels)
        {
            labels.Append(',').Append(label.Key).Append("=\"").Append(Escape(label.Value)).Append('"');
        }

        Labels = Encoding.UTF8.GetBytes(labels.ToString());
    }

    /// <summary>The target and its labels, as the file gave them.</summary>
    internal FileSdTarget Target { get; }

    /// <summary>The monitor's watch.</summary>
    internal TcpWatch Watch { get; }

    /// <summary><c>target="h:p",name="value",...</c>: the labels as the exposition writes them, escaped, without braces.</summary>
    internal byte[] Labels { get; }

    /// <summary>Changes of health the monitor reported.</summary>
    internal long Changes => Volatile.Read(ref _changes);

    /// <summary>Counts one change of health.</summary>
    internal void Changed() => Interlocked.Increment(ref _changes);

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
