using System.Globalization;

namespace HealthChecks.TcpShaker.Testing;

/// <summary>Parses /proc/net/snmp and /proc/net/netstat: pairs of "Prefix: names" and "Prefix: values" lines, named as nstat names them (TcpPassiveOpens, TcpExtEmbryonicRsts).</summary>
public static class KernelCounters
{
    public static Dictionary<string, long> Parse(string text)
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            string[] names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names.Length < 2 || names[0] != values[0] || names.Length != values.Length
                || !long.TryParse(values[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            string prefix = names[0].TrimEnd(':');
            for (int k = 1; k < names.Length; k++)
            {
                if (long.TryParse(values[k], NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
                {
                    counters[prefix + names[k]] = value;
                }
            }

            i++;
        }

        return counters;
    }
}
