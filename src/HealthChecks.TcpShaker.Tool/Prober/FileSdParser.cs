using System.Globalization;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// Reads a targets file in Prometheus' file_sd format: a list of groups, each with <c>targets</c>
/// (<c>host:port</c> strings) and optional <c>labels</c> (name to value). JSON for <c>.json</c>, YAML for
/// <c>.yml</c>/<c>.yaml</c>, as Prometheus decides. Strict: a bad target, a bad label name or an unknown
/// key makes the whole file invalid (the caller then keeps what it had).
/// </summary>
internal static class FileSdParser
{
    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <exception cref="ProberConfigException">The file cannot be read or is not a valid targets file; the message says where and why.</exception>
    internal static IReadOnlyList<FileSdTarget> Load(string path, TargetAllowList allowList)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ProberConfigException($"{path}: cannot be read: {exception.Message}", exception);
        }

        return Parse(text, path, allowList);
    }

    /// <summary>Checks a targets file's text; the extension of <paramref name="path"/> says JSON or YAML.</summary>
    /// <exception cref="ProberConfigException">The text is not a valid targets file.</exception>
    internal static IReadOnlyList<FileSdTarget> Parse(string text, string path, TargetAllowList allowList)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        List<(List<string> Targets, List<KeyValuePair<string, string>> Labels)> groups = extension switch
        {
            ".json" => ReadJson(text, path),
            ".yml" or ".yaml" => ReadYaml(text, path),
            _ => throw new ProberConfigException($"{path}: a targets file is .json, .yml or .yaml (as Prometheus' file_sd wants), not '{extension}'."),
        };

        var targets = new List<FileSdTarget>();
        for (int g = 0; g < groups.Count; g++)
        {
            string where = string.Create(CultureInfo.InvariantCulture, $"{path}: group {g + 1}");
            List<KeyValuePair<string, string>> labels = [];
            foreach (KeyValuePair<string, string> label in groups[g].Labels)
            {
                if (!IsLabelName(label.Key))
                {
                    throw new ProberConfigException($"{where}: '{label.Key}' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*).");
                }

                if (label.Key == "target")
                {
                    throw new ProberConfigException($"{where}: the label 'target' is the prober's own (each target's host:port); name yours otherwise.");
                }

                if (!label.Key.StartsWith("__", StringComparison.Ordinal))
                {
                    labels.Add(label);
                }
            }

            labels.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            foreach (string target in groups[g].Targets)
            {
                TcpEndpoint endpoint;
                try
                {
                    endpoint = TcpEndpoint.Parse(target);
                }
                catch (ArgumentException exception)
                {
                    throw new ProberConfigException($"{where}: {CliSymbols.WithoutParameterName(exception)}", exception);
                }

                string? refusal = allowList.RefusePort(endpoint.Port) ?? (endpoint.Address is { } address ? allowList.RefuseAddress(address) : null);
                if (refusal is not null)
                {
                    throw new ProberConfigException($"{where}: target {target} refused: {refusal}");
                }

                targets.Add(new FileSdTarget(endpoint, target, labels));
            }
        }

        return targets;
    }

    private static List<(List<string>, List<KeyValuePair<string, string>>)> ReadJson(string text, string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException exception)
        {
            throw new ProberConfigException($"{path}: not valid JSON: {exception.Message}", exception);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new ProberConfigException($"{path}: expected a list of target groups ([{{\"targets\": [...], \"labels\": {{...}}}}]).");
            }

            var groups = new List<(List<string>, List<KeyValuePair<string, string>>)>();
            int index = 0;
            foreach (JsonElement group in document.RootElement.EnumerateArray())
            {
                index++;
                string where = string.Create(CultureInfo.InvariantCulture, $"{path}: group {index}");
                if (group.ValueKind != JsonValueKind.Object)
                {
                    throw new ProberConfigException($"{where}: expected an object with \"targets\" and \"labels\".");
                }

                var targets = new List<string>();
                var labels = new List<KeyValuePair<string, string>>();
                foreach (JsonProperty property in group.EnumerateObject())
                {
                    switch (property.Name)
                    {
                        case "targets" when property.Value.ValueKind == JsonValueKind.Array:
                            foreach (JsonElement target in property.Value.EnumerateArray())
                            {
                                targets.Add(target.ValueKind == JsonValueKind.String ? target.GetString()! : throw new ProberConfigException($"{where}: every target is a \"host:port\" string."));
                            }

                            break;
                        case "labels" when property.Value.ValueKind == JsonValueKind.Object:
                            foreach (JsonProperty label in property.Value.EnumerateObject())
                            {
                                labels.Add(new(label.Name, label.Value.ValueKind == JsonValueKind.String ? label.Value.GetString()! : throw new ProberConfigException($"{where}: label '{label.Name}' is not a string.")));
                            }

                            break;
                        case "labels" when property.Value.ValueKind == JsonValueKind.Null:
                            break;
                        case "targets" or "labels":
                            throw new ProberConfigException($"{where}: \"{property.Name}\" is a {(property.Name == "targets" ? "list of strings" : "map of strings")}.");
                        default:
                            throw new ProberConfigException($"{where}: \"{property.Name}\": unknown key (known: targets, labels).");
                    }
                }

                groups.Add((targets, labels));
            }

            return groups;
        }
    }

    private static List<(List<string>, List<KeyValuePair<string, string>>)> ReadYaml(string text, string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException exception)
        {
            throw new ProberConfigException($"{path}:{exception.Start.Line.ToString(CultureInfo.InvariantCulture)}: not valid YAML: {exception.Message}", exception);
        }
        catch (InvalidOperationException exception)
        {
            // YamlDotNet's scanner throws this (not a YamlException) on some broken flow collections.
            throw new ProberConfigException($"{path}: not valid YAML: {exception.Message}", exception);
        }

        var groups = new List<(List<string>, List<KeyValuePair<string, string>>)>();
        if (stream.Documents.Count == 0)
        {
            return groups; // an empty file: no targets, as in Prometheus
        }

        if (stream.Documents[0].RootNode is not YamlSequenceNode list)
        {
            throw new ProberConfigException($"{path}: expected a list of target groups (- targets: [...], labels: {{...}}).");
        }

        foreach (YamlNode groupNode in list)
        {
            string where = string.Create(CultureInfo.InvariantCulture, $"{path}:{groupNode.Start.Line}");
            if (groupNode is not YamlMappingNode group)
            {
                throw new ProberConfigException($"{where}: expected a group with targets and labels.");
            }

            var targets = new List<string>();
            var labels = new List<KeyValuePair<string, string>>();
            foreach ((YamlNode keyNode, YamlNode value) in group.Children)
            {
                string key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
                switch (key)
                {
                    case "targets" when value is YamlSequenceNode items:
                        foreach (YamlNode item in items)
                        {
                            targets.Add(item is YamlScalarNode { Value: { } target } ? target : throw new ProberConfigException($"{path}:{item.Start.Line}: every target is a host:port string."));
                        }

                        break;
                    case "labels" when value is YamlMappingNode map:
                        foreach ((YamlNode labelName, YamlNode labelValue) in map.Children)
                        {
                            labels.Add(new(
                                (labelName as YamlScalarNode)?.Value ?? string.Empty,
                                labelValue is YamlScalarNode { Value: { } v } ? v : throw new ProberConfigException($"{path}:{labelValue.Start.Line}: a label's value is a string.")));
                        }

                        break;
                    case "targets" or "labels":
                        throw new ProberConfigException($"{path}:{value.Start.Line}: '{key}' is a {(key == "targets" ? "list of host:port strings" : "map of label names to values")}.");
                    default:
                        throw new ProberConfigException($"{path}:{keyNode.Start.Line}: '{key}': unknown key (known: targets, labels).");
                }
            }

            groups.Add((targets, labels));
        }

        return groups;
    }

    private static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
