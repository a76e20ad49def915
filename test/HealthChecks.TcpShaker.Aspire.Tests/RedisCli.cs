using System.Globalization;
using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Aspire.Tests;

/// <summary>redis-cli INFO fields of a redis-server on a loopback port; each call is one connection of its own.</summary>
internal static class RedisCli
{
    public static long Info(string cli, int port, string section, string field)
    {
        string info = Sh.Run(TimeSpan.FromSeconds(10), cli, "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "INFO", section);
        foreach (string line in info.Split('\n'))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length + 1).Trim(), CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"redis INFO {section} has no {field}: {info}");
    }
}
