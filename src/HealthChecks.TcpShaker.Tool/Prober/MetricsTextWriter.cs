using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// The Prometheus text exposition format (0.0.4), written by hand straight into the response's pooled
/// pipe buffers: no reflection, no intermediate strings for numbers, nothing allocated per series beyond
/// what the caller's labels already are. Writes go into one chunk of the pipe's memory at a time (a
/// 10,000-watch exposition is 6 MB in 70,000 lines: asking the pipe for a span per token costs more than
/// the copying), and it flushes every 64 KiB so the exposition streams out.
/// </summary>
internal sealed class MetricsTextWriter
{
    /// <summary>The content type of the format.</summary>
    internal const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private const int FlushEvery = 64 * 1024;
    private const int ChunkSize = 16 * 1024;
    private readonly PipeWriter _writer;
    private Memory<byte> _chunk;
    private int _used;
    private long _unflushed;

    internal MetricsTextWriter(PipeWriter writer)
    {
        _writer = writer;
    }

    /// <summary>The <c># HELP</c> and <c># TYPE</c> lines of a family.</summary>
    internal void Family(ReadOnlySpan<byte> name, ReadOnlySpan<byte> type, ReadOnlySpan<byte> help)
    {
        Raw("# HELP "u8);
        Raw(name);
        Raw(" "u8);
        Raw(help);
        Raw("\n# TYPE "u8);
        Raw(name);
        Raw(" "u8);
        Raw(type);
        Raw("\n"u8);
    }

    /// <summary>A sample without labels.</summary>
    internal void Sample(ReadOnlySpan<byte> name, double value)
    {
        Raw(name);
        Raw(" "u8);
        Value(value);
        Raw("\n"u8);
    }

    /// <summary>A sample with one label.</summary>
    internal void Sample(ReadOnlySpan<byte> name, ReadOnlySpan<byte> label, string labelValue, double value)
    {
        Raw(name);
        Raw("{"u8);
        Raw(label);
        Raw("=\""u8);
        LabelValue(labelValue);
        Raw("\"} "u8);
        Value(value);
        Raw("\n"u8);
    }

    /// <summary>Bytes as they are: names, pre-rendered labels, literal text.</summary>
    internal void Raw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Reserve(bytes.Length));
        _used += bytes.Length;
    }

    /// <summary>A label value, escaped as the format wants (backslash, double quote, line feed).</summary>
    internal void LabelValue(string value)
    {
        Span<byte> span = Reserve(Encoding.UTF8.GetMaxByteCount(value.Length) * 2);
        int length = 0;
        foreach (Rune rune in value.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '\\':
                    span[length++] = (byte)'\\';
                    span[length++] = (byte)'\\';
                    break;
                case '"':
                    span[length++] = (byte)'\\';
                    span[length++] = (byte)'"';
                    break;
                case '\n':
                    span[length++] = (byte)'\\';
                    span[length++] = (byte)'n';
                    break;
                default:
                    length += rune.EncodeToUtf8(span[length..]);
                    break;
            }
        }

        _used += length;
    }

    /// <summary>A sample value: the shortest text that reads back as the same double; NaN and infinities as the format spells them.</summary>
    internal void Value(double value)
    {
        if (double.IsNaN(value))
        {
            Raw("NaN"u8);
            return;
        }

        if (double.IsInfinity(value))
        {
            Raw(value > 0 ? "+Inf"u8 : "-Inf"u8);
            return;
        }

        if (!value.TryFormat(Reserve(32), out int written, "R", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("a double did not fit in 32 bytes");
        }

        _used += written;
    }

    /// <summary>A whole number (counters, timestamps in whole units).</summary>
    internal void Value(long value)
    {
        value.TryFormat(Reserve(20), out int written, default, CultureInfo.InvariantCulture);
        _used += written;
    }

    /// <summary>Sends what is buffered once 64 KiB have piled up.</summary>
    internal ValueTask FlushIfLargeAsync(CancellationToken cancellationToken)
    {
        if (_unflushed + _used < FlushEvery)
        {
            return ValueTask.CompletedTask;
        }

        Commit();
        _unflushed = 0;
        return Ignore(_writer.FlushAsync(cancellationToken));
    }

    /// <summary>Sends everything written.</summary>
    internal ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Commit();
        _unflushed = 0;
        return Ignore(_writer.FlushAsync(cancellationToken));
    }

    /// <summary>Room for <paramref name="size"/> bytes at the end of the current chunk, taking a new chunk when it is full.</summary>
    private Span<byte> Reserve(int size)
    {
        if (_chunk.Length - _used < size)
        {
            Commit();
            _chunk = _writer.GetMemory(Math.Max(size, ChunkSize));
        }

        return _chunk.Span[_used..];
    }

    /// <summary>Hands what the current chunk holds to the pipe.</summary>
    private void Commit()
    {
        if (_used > 0)
        {
            _writer.Advance(_used);
            _unflushed += _used;
        }

        _used = 0;
        _chunk = default;
    }

    private static async ValueTask Ignore(ValueTask<FlushResult> flush) => await flush;
}
