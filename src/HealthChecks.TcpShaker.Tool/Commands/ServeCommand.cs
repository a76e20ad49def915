using System.CommandLine;
using System.Globalization;
using System.Net;
using HealthChecks.TcpShaker.Tool.Prober;

namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>
/// <c>tcp-shaker serve [--listen ADDR:PORT] [--config FILE] [--targets FILE]</c>: a Prometheus prober,
/// a drop-in for the blackbox exporter's TCP module (<c>/probe</c>), with continuous watches of a
/// file_sd targets file exposed on <c>/metrics</c>. Runs until Ctrl+C or SIGTERM.
/// </summary>
internal static class ServeCommand
{
    /// <summary>The blackbox exporter's port, on loopback: a prober sends SYNs wherever a URL says, so it is reachable from elsewhere only when asked.</summary>
    internal const string DefaultListen = "127.0.0.1:9115";

    internal static Command Create(ToolConsole console)
    {
        var listen = new Option<IPEndPoint>("--listen")
        {
            Description = $"Where to serve /probe and /metrics, as ADDRESS:PORT (:PORT for every address). Anyone who can reach it can make the prober send SYNs: see 'Exposing a prober' in docs/prober.md. [default: {DefaultListen}]",
            HelpName = "address:port",
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? DefaultListen : result.Tokens[0].Value;
                if (TryParseListen(text, out IPEndPoint? endpoint))
                {
                    return endpoint;
                }

                result.AddError($"--listen: '{text}' is not an address and port (write it as 127.0.0.1:9115, [::1]:9115 or :9115).");
                return null!;
            },
        };
        var config = new Option<string?>("--config")
        {
            Description = "The blackbox exporter's modules file (prober: tcp modules; timeout, preferred_ip_protocol, ip_protocol_fallback) plus this project's tcp_shaker keys (mode, max_concurrent_probes, allow, watch). Without it: the built-in tcp_connect module, half-open.",
            HelpName = "file",
        };
        var targets = new Option<string?>("--targets")
        {
            Description = "A Prometheus file_sd targets file (JSON or YAML) to watch continuously, rise/fall as the monitor does; re-read when it changes; the watches' state is on /metrics.",
            HelpName = "file",
        };

        var command = new Command("serve", "Serve half-open TCP probes to Prometheus: /probe?target=HOST:PORT&module=NAME answers as the blackbox exporter's TCP module does (probe_success and the rest), and /metrics exposes the watches of --targets. Runs until Ctrl+C.")
        {
            listen, config, targets,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            IPEndPoint listenOn = parse.GetResult(listen) is null ? IPEndPoint.Parse(DefaultListen) : parse.GetValue(listen)!;
            ProberConfig settings;
            try
            {
                settings = parse.GetValue(config) is { } path ? ProberConfigLoader.Load(path) : ProberConfig.Default;
            }
            catch (ProberConfigException exception)
            {
                await console.Error.WriteLineAsync($"tcp-shaker serve: --config {exception.Message}");
                return ExitCodes.Usage;
            }

            foreach (string note in settings.Notes)
            {
                await console.Error.WriteLineAsync($"tcp-shaker serve: {note}");
            }

            return await new ServeSession(console, listenOn, settings, parse.GetValue(targets)).RunAsync(cancellationToken);
        });

        return command;
    }

    /// <summary><c>127.0.0.1:9115</c>, <c>[::1]:9115</c>, or <c>:9115</c> (every address, IPv4 and IPv6).</summary>
    internal static bool TryParseListen(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        if (text.StartsWith(':') && int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= IPEndPoint.MaxPort)
        {
            endpoint = new IPEndPoint(IPAddress.IPv6Any, port);
            return true;
        }

        return text.Contains(':', StringComparison.Ordinal) && IPEndPoint.TryParse(text, out endpoint) && (endpoint.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || text.StartsWith('['));
    }
}
