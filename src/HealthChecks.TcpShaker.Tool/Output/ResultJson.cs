using System.Text;
using System.Text.Json;

namespace HealthChecks.TcpShaker.Tool.Output;

/// <summary>
/// The JSON document of <c>check --json</c>: the mode, the settings, the verdict, and per target
/// each address's status and handshake time. Written with <see cref="Utf8JsonWriter"/> (no reflection).
/// </summary>
internal static class ResultJson
{
    internal static string Write(TcpShakerMode mode, TimeSpan timeout, bool requireAllAddresses, IReadOnlyList<TargetReport> reports)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("mode", mode.ToString());
            json.WriteNumber("timeoutMs", timeout.TotalMilliseconds);
            json.WriteBoolean("requireAllAddresses", requireAllAddresses);
            json.WriteBoolean("ok", TargetChecks.AllOpen(reports));
            json.WriteStartArray("targets");
            foreach (TargetReport report in reports)
            {
                json.WriteStartObject();
                json.WriteString("target", report.Target.ToString());
                json.WriteBoolean("ok", report.IsOpen);
                json.WriteStartArray("addresses");
                foreach (TcpCheckResult result in report.Results)
                {
                    json.WriteStartObject();
                    if (result.RemoteEndPoint is { } remote)
                    {
                        json.WriteString("address", remote.ToString());
                    }
                    else
                    {
                        json.WriteNull("address");
                    }

                    json.WriteString("status", result.Status.ToString());
                    json.WriteNumber("elapsedMs", Math.Round(result.Elapsed.TotalMilliseconds, 3));
                    json.WriteNumber("errorCode", result.ErrorCode);
                    json.WriteString("description", result.Describe());
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
