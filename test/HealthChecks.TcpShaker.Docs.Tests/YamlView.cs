using YamlDotNet.RepresentationModel;

namespace HealthChecks.TcpShaker.Docs.Tests;

/// <summary>A parsed YAML node with the few look-ups the sample tests need; a missing key fails with its path.</summary>
internal sealed class YamlView(YamlNode node, string path)
{
    /// <summary>Every document of a (multi-document) YAML text.</summary>
    internal static List<YamlView> ParseAll(string text, string source)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(text);
        stream.Load(reader);
        return [.. stream.Documents.Select((d, i) => new YamlView(d.RootNode, $"{source}#{i}"))];
    }

    internal string Path => path;

    /// <summary>The node at the keys (mapping keys, or list indexes as numbers); throws naming the path when absent.</summary>
    internal YamlView this[params string[] keys] => Find(keys) ?? throw new KeyNotFoundException($"{path}: no {string.Join('.', keys)}");

    /// <summary>The node at the keys, or null.</summary>
    internal YamlView? Find(params string[] keys)
    {
        YamlNode current = node;
        string where = path;
        foreach (string key in keys)
        {
            where += "." + key;
            YamlNode? next = current switch
            {
                YamlMappingNode map => map.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value) ? value : null,
                YamlSequenceNode list when int.TryParse(key, out int index) && index < list.Children.Count => list.Children[index],
                _ => null,
            };
            if (next is null)
            {
                return null;
            }

            current = next;
        }

        return new YamlView(current, where);
    }

    /// <summary>This mapping as YAML text, without the top-level key <paramref name="key"/>.</summary>
    internal string Without(string key)
    {
        var copy = new YamlMappingNode();
        foreach ((YamlNode k, YamlNode v) in (YamlMappingNode)node)
        {
            if (((YamlScalarNode)k).Value != key)
            {
                copy.Add(k, v);
            }
        }

        using var writer = new StringWriter();
        new YamlStream(new YamlDotNet.RepresentationModel.YamlDocument(copy)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    internal string Text => node is YamlScalarNode scalar ? scalar.Value ?? "" : throw new InvalidOperationException($"{path} is not a scalar");

    internal string? TextAt(params string[] keys) => Find(keys)?.Text;

    internal List<YamlView> Items => node is YamlSequenceNode list
        ? [.. list.Children.Select((c, i) => new YamlView(c, $"{path}.{i}"))]
        : throw new InvalidOperationException($"{path} is not a list");

    internal List<string> Strings => [.. Items.Select(i => i.Text)];

    internal IEnumerable<string> Keys => node is YamlMappingNode map
        ? map.Children.Keys.Select(k => ((YamlScalarNode)k).Value ?? "")
        : throw new InvalidOperationException($"{path} is not a mapping");
}
