using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace HealthChecks.TcpShaker.Sample;

/// <summary>Finds the <c>host:port</c> this app listens on, so the sample can check its own port.</summary>
internal static class SelfEndpoint
{
    /// <summary>
    /// The first URL of <c>urls</c> (appsettings "Urls", <c>--urls</c>, <c>ASPNETCORE_URLS</c>), else the
    /// first of <c>http_ports</c>, else ASP.NET Core's default (port 5000). Wildcard and <c>localhost</c>
    /// hosts become a loopback address, which every wildcard binding also serves.
    /// </summary>
    /// <exception cref="InvalidOperationException">The URL has port 0 (chosen at start), which cannot be known here.</exception>
    public static string FromConfiguration(IConfiguration configuration)
    {
        string? urls = configuration["urls"];
        if (!string.IsNullOrWhiteSpace(urls))
        {
            string first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
            BindingAddress address = BindingAddress.Parse(first);
            return Format(address.Host, address.Port, first);
        }

        string? ports = configuration["http_ports"];
        if (!string.IsNullOrWhiteSpace(ports))
        {
            string first = ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
            return Format("*", int.Parse(first, CultureInfo.InvariantCulture), first);
        }

        return "127.0.0.1:5000";
    }

    private static string Format(string host, int port, string source)
    {
        if (port == 0)
        {
            throw new InvalidOperationException(
                $"The app listens on '{source}', a port chosen at start: set a fixed port, or set HealthChecks:SelfHttp:Endpoints.");
        }

        string target = host switch
        {
            "*" or "+" or "0.0.0.0" or "" => "127.0.0.1",
            "[::]" or "::" => "[::1]",
            _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => "127.0.0.1",
            _ when host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') => $"[{host}]",
            _ => host,
        };
        return $"{target}:{port.ToString(CultureInfo.InvariantCulture)}";
    }
}
