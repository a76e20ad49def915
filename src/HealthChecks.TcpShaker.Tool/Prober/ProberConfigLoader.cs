using System.Globalization;
using System.Net;
using System.Net.Sockets;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>
/// Reads <c>--config</c>: the blackbox exporter's modules file (<c>modules:</c>, each with <c>prober</c>,
/// <c>timeout</c>, <c>tcp:</c>) plus this project's keys (<c>tcp_shaker:</c> in a module and at the top).
/// Strict as the blackbox exporter is: an unknown key is an error. A <c>prober: tcp</c> module asking
/// for what a half-open probe cannot do (<c>query_response</c>, <c>tls: true</c>, <c>source_ip_address</c>)
/// is refused, naming the module and the key; modules of other probers are skipped with a note.
/// </summary>
internal static class ProberConfigLoader
{
    private static readonly string[] OtherProberKeys = ["http", "icmp", "dns", "grpc"];

    /// <summary>Reads and checks the file.</summary>
    /// <exception cref="ProberConfigException">The file cannot be read or used; the message says where and why.</exception>
    internal static ProberConfig Load(string path)
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

        return Parse(text, path);
    }

    /// <summary>Checks a modules file's text; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="ProberConfigException">The text cannot be used; the message says where and why.</exception>
    internal static ProberConfig Parse(string text, string source)
    {
        YamlMappingNode root = ReadRoot(text, source);
        var modules = new Dictionary<string, ProberModule>(StringComparer.Ordinal) { [ProberModule.DefaultName] = ProberModule.Default };
        var notes = new List<string>();
        int maxConcurrent = ProberConfig.DefaultMaxConcurrentProbes;
        TargetAllowList allow = TargetAllowList.Everything;
        YamlMappingNode? watch = null;

        foreach ((YamlNode keyNode, YamlNode value) in root.Children)
        {
            string key = Key(keyNode, source);
            switch (key)
            {
                case "modules":
                    foreach ((YamlNode nameNode, YamlNode moduleNode) in Mapping(value, source, "modules"))
                    {
                        string name = Key(nameNode, source);
                        if (ReadModule(name, Mapping(moduleNode, source, $"module '{name}'"), source, notes) is { } module)
                        {
                            modules[name] = module;
                        }
                    }

                    break;
                case "tcp_shaker":
                    foreach ((YamlNode settingNode, YamlNode setting) in Mapping(value, source, "tcp_shaker"))
                    {
                        string name = Key(settingNode, source);
                        switch (name)
                        {
                            case "max_concurrent_probes":
                                maxConcurrent = Integer(setting, source, "tcp_shaker.max_concurrent_probes", 1, 65_536);
                                break;
                            case "allow":
                                allow = ReadAllowList(Mapping(setting, source, "tcp_shaker.allow"), source);
                                break;
                            case "watch":
                                watch = Mapping(setting, source, "tcp_shaker.watch");
                                break;
                            default:
                                throw Error(source, settingNode, $"tcp_shaker.{name}: unknown key (known: max_concurrent_probes, allow, watch).");
                        }
                    }

                    break;
                default:
                    throw Error(source, keyNode, $"{key}: unknown key (known: modules, tcp_shaker).");
            }
        }

        (ProberModule watchModule, TcpWatchOptions watchOptions) = watch is null
            ? (modules[ProberModule.DefaultName], ProberConfig.WatchDefaults(modules[ProberModule.DefaultName]))
            : ReadWatch(watch, modules, source);
        return new ProberConfig(modules, maxConcurrent, allow, watchModule, watchOptions, notes);
    }

    private static YamlMappingNode ReadRoot(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException exception)
        {
            throw new ProberConfigException($"{source}:{exception.Start.Line.ToString(CultureInfo.InvariantCulture)}: not valid YAML: {exception.Message}", exception);
        }
        catch (InvalidOperationException exception)
        {
            // YamlDotNet's scanner throws this (not a YamlException) on some broken flow collections.
            throw new ProberConfigException($"{source}: not valid YAML: {exception.Message}", exception);
        }

        if (stream.Documents.Count == 0)
        {
            throw new ProberConfigException($"{source}: is empty; expected a 'modules:' mapping as in the blackbox exporter's file.");
        }

        return stream.Documents[0].RootNode as YamlMappingNode
            ?? throw Error(source, stream.Documents[0].RootNode, "expected a mapping with 'modules:' as in the blackbox exporter's file.");
    }

    private static ProberModule? ReadModule(string name, YamlMappingNode node, string source, List<string> notes)
    {
        string? prober = node.Children.TryGetValue(new YamlScalarNode("prober"), out YamlNode? proberNode) ? Scalar(proberNode, source, $"module '{name}': prober") : null;
        if (prober is null)
        {
            throw Error(source, node, $"module '{name}': has no 'prober' key (serve runs 'prober: tcp' modules).");
        }

        if (prober != "tcp")
        {
            notes.Add($"module '{name}' skipped: it is 'prober: {prober}', and serve runs 'prober: tcp' modules only.");
            return null;
        }

        TimeSpan? timeout = null;
        AddressFamily family = AddressFamily.InterNetworkV6;
        bool fallback = true;
        TcpShakerMode mode = TcpShakerMode.HalfOpen;
        foreach ((YamlNode keyNode, YamlNode value) in node.Children)
        {
            string key = Key(keyNode, source);
            switch (key)
            {
                case "prober":
                    break;
                case "timeout":
                    TimeSpan parsed = Duration(value, source, $"module '{name}': timeout");
                    timeout = parsed == TimeSpan.Zero ? null : parsed;
                    break;
                case "tcp":
                    (family, fallback) = ReadTcp(name, Mapping(value, source, $"module '{name}': tcp"), source, notes);
                    break;
                case "tcp_shaker":
                    foreach ((YamlNode settingNode, YamlNode setting) in Mapping(value, source, $"module '{name}': tcp_shaker"))
                    {
                        string settingName = Key(settingNode, source);
                        if (settingName != "mode")
                        {
                            throw Error(source, settingNode, $"module '{name}': tcp_shaker.{settingName}: unknown key (known: mode).");
                        }

                        mode = Scalar(setting, source, $"module '{name}': tcp_shaker.mode") switch
                        {
                            "half_open" => TcpShakerMode.HalfOpen,
                            "raw_syn" => TcpShakerMode.RawSyn,
                            "full_connect" => TcpShakerMode.FullConnect,
                            string other => throw Error(source, setting, $"module '{name}': tcp_shaker.mode: '{other}' is not a mode (half_open, raw_syn or full_connect)."),
                        };
                    }

                    break;
                default:
                    if (!OtherProberKeys.Contains(key, StringComparer.Ordinal))
                    {
                        throw Error(source, keyNode, $"module '{name}': {key}: unknown key (known: prober, timeout, tcp, tcp_shaker).");
                    }

                    break; // another prober's settings: unused by a tcp module, as in the blackbox exporter
            }
        }

        if (timeout > TcpShaker.MaxTimeout)
        {
            throw Error(source, node, $"module '{name}': timeout: {Durations.Format(timeout.Value)} is more than {Durations.Format(TcpShaker.MaxTimeout)} (TcpShaker.MaxTimeout).");
        }

        return new ProberModule(name, timeout, family, fallback, mode);
    }

    private static (AddressFamily Family, bool Fallback) ReadTcp(string module, YamlMappingNode node, string source, List<string> notes)
    {
        AddressFamily family = AddressFamily.InterNetworkV6;
        bool fallback = true;
        bool tls = false;
        YamlNode? tlsConfig = null;
        foreach ((YamlNode keyNode, YamlNode value) in node.Children)
        {
            string key = Key(keyNode, source);
            switch (key)
            {
                case "preferred_ip_protocol":
                    family = Scalar(value, source, $"module '{module}': tcp.preferred_ip_protocol") switch
                    {
                        "ip6" or "" => AddressFamily.InterNetworkV6,
                        "ip4" => AddressFamily.InterNetwork,
                        string other => throw Error(source, value, $"module '{module}': tcp.preferred_ip_protocol: '{other}' is not ip4 or ip6."),
                    };
                    break;
                case "ip_protocol_fallback":
                    fallback = Boolean(value, source, $"module '{module}': tcp.ip_protocol_fallback");
                    break;
                case "tls":
                    tls = Boolean(value, source, $"module '{module}': tcp.tls");
                    if (tls)
                    {
                        throw Error(source, keyNode, $"module '{module}': tcp.tls: a half-open probe never completes the handshake, so it cannot speak TLS; probe this target with the blackbox exporter.");
                    }

                    break;
                case "tls_config":
                    tlsConfig = keyNode;
                    break;
                case "query_response":
                    throw Error(source, keyNode, $"module '{module}': tcp.query_response: a half-open probe sends no data and reads none; probe this target with the blackbox exporter.");
                case "source_ip_address":
                    throw Error(source, keyNode, $"module '{module}': tcp.source_ip_address: the engine does not bind a source address; remove the key (the kernel's route then picks it).");
                default:
                    throw Error(source, keyNode, $"module '{module}': tcp.{key}: unknown key (known: preferred_ip_protocol, ip_protocol_fallback, tls, tls_config, query_response, source_ip_address).");
            }
        }

        if (tlsConfig is not null && !tls)
        {
            notes.Add($"module '{module}': tcp.tls_config ignored: tls is not on (as in the blackbox exporter).");
        }

        return (family, fallback);
    }

    private static TargetAllowList ReadAllowList(YamlMappingNode node, string source)
    {
        var networks = new List<IPNetwork>();
        var ports = new List<(int Low, int High)>();
        foreach ((YamlNode keyNode, YamlNode value) in node.Children)
        {
            string key = Key(keyNode, source);
            switch (key)
            {
                case "networks":
                    foreach (YamlNode item in Sequence(value, source, "tcp_shaker.allow.networks"))
                    {
                        string text = Scalar(item, source, "tcp_shaker.allow.networks");
                        if (IPNetwork.TryParse(text, out IPNetwork network))
                        {
                            networks.Add(network);
                        }
                        else if (IPAddress.TryParse(text, out IPAddress? single))
                        {
                            networks.Add(new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
                        }
                        else
                        {
                            throw Error(source, item, $"tcp_shaker.allow.networks: '{text}' is not a network (write it as 10.0.0.0/8, fd00::/8 or one address).");
                        }
                    }

                    break;
                case "ports":
                    foreach (YamlNode item in Sequence(value, source, "tcp_shaker.allow.ports"))
                    {
                        string text = Scalar(item, source, "tcp_shaker.allow.ports");
                        string[] bounds = text.Split('-', 2);
                        if (!int.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out int low)
                            || !int.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int high)
                            || low < 1 || high > 65_535 || low > high)
                        {
                            throw Error(source, item, $"tcp_shaker.allow.ports: '{text}' is not a port or a range of ports (write it as 443 or 8000-8999, from 1 to 65535).");
                        }

                        ports.Add((low, high));
                    }

                    break;
                default:
                    throw Error(source, keyNode, $"tcp_shaker.allow.{key}: unknown key (known: networks, ports).");
            }
        }

        return new TargetAllowList(networks, ports);
    }

    private static (ProberModule Module, TcpWatchOptions Options) ReadWatch(YamlMappingNode node, Dictionary<string, ProberModule> modules, string source)
    {
        ProberModule module = modules[ProberModule.DefaultName];
        if (node.Children.TryGetValue(new YamlScalarNode("module"), out YamlNode? moduleNode))
        {
            string name = Scalar(moduleNode, source, "tcp_shaker.watch.module");
            module = modules.GetValueOrDefault(name) ?? throw Error(source, moduleNode, $"tcp_shaker.watch.module: no 'prober: tcp' module is named '{name}'.");
        }

        TcpWatchOptions options = ProberConfig.WatchDefaults(module);
        foreach ((YamlNode keyNode, YamlNode value) in node.Children)
        {
            string key = Key(keyNode, source);
            string where = "tcp_shaker.watch." + key;
            switch (key)
            {
                case "module":
                    break;
                case "interval":
                    options.Interval = Duration(value, source, where);
                    break;
                case "fast_interval":
                    options.FastInterval = Duration(value, source, where);
                    break;
                case "down_interval":
                    options.DownInterval = Duration(value, source, where);
                    break;
                case "rise":
                    options.Rise = Integer(value, source, where, 1, 1000);
                    break;
                case "fall":
                    options.Fall = Integer(value, source, where, 1, 1000);
                    break;
                case "jitter":
                    string text = Scalar(value, source, where);
                    if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double jitter) || jitter > 0.5)
                    {
                        throw Error(source, value, $"{where}: '{text}' is not a fraction from 0 to 0.5.");
                    }

                    options.Jitter = jitter;
                    break;
                case "all_addresses":
                    options.RequireAllAddresses = Boolean(value, source, where);
                    break;
                default:
                    throw Error(source, keyNode, $"{where}: unknown key (known: module, interval, fast_interval, down_interval, rise, fall, jitter, all_addresses).");
            }
        }

        if (options.FirstProblem() is { } problem)
        {
            throw Error(source, node, $"tcp_shaker.watch: {problem}");
        }

        return (module, options);
    }

    private static string Key(YamlNode node, string source) => Scalar(node, source, "a key");

    private static string Scalar(YamlNode node, string source, string what) =>
        node is YamlScalarNode { Value: { } value } ? value : throw Error(source, node, $"{what}: expected a single value.");

    private static YamlMappingNode Mapping(YamlNode node, string source, string what) =>
        node as YamlMappingNode ?? throw Error(source, node, $"{what}: expected a mapping (key: value lines).");

    private static YamlSequenceNode Sequence(YamlNode node, string source, string what) =>
        node as YamlSequenceNode ?? throw Error(source, node, $"{what}: expected a list.");

    private static bool Boolean(YamlNode node, string source, string what) => Scalar(node, source, what) switch
    {
        "true" or "True" or "TRUE" => true,
        "false" or "False" or "FALSE" => false,
        string other => throw Error(source, node, $"{what}: '{other}' is not true or false."),
    };

    private static int Integer(YamlNode node, string source, string what, int min, int max)
    {
        string text = Scalar(node, source, what);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value
            : throw Error(source, node, string.Create(CultureInfo.InvariantCulture, $"{what}: '{text}' is not a whole number from {min} to {max}."));
    }

    private static TimeSpan Duration(YamlNode node, string source, string what)
    {
        string text = Scalar(node, source, what);
        if (text == "0")
        {
            return TimeSpan.Zero;
        }

        return Durations.TryParse(text, out TimeSpan value, out string? error)
            ? value
            : throw Error(source, node, $"{what}: '{text}' is not a duration: {error} (write it as 500ms, 5s or 1m).");
    }

    private static ProberConfigException Error(string source, YamlNode node, string message) =>
        new($"{source}:{node.Start.Line.ToString(CultureInfo.InvariantCulture)}: {message}");
}
