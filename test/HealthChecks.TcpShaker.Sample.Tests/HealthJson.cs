using System.Text.Json;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>Reads the HealthChecks UI JSON the sample's endpoints write.</summary>
internal sealed class HealthJson
{
    private HealthJson(JsonElement root) => Root = root;

    public JsonElement Root { get; }

    public string Status => Root.GetProperty("status").GetString()!;

    public IEnumerable<string> EntryNames => Root.GetProperty("entries").EnumerateObject().Select(p => p.Name);

    public static async Task<HealthJson> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        string text = await response.Content.ReadAsStringAsync(cancellationToken);
        return new HealthJson(JsonDocument.Parse(text).RootElement.Clone());
    }

    public JsonElement Entry(string name) => Root.GetProperty("entries").GetProperty(name);

    public string EntryStatus(string name) => Entry(name).GetProperty("status").GetString()!;

    /// <summary>The one per-address report of <paramref name="endpoint"/> in a TCP check's data.</summary>
    public JsonElement EndpointReport(string check, string endpoint)
    {
        JsonElement reports = Entry(check).GetProperty("data").GetProperty(endpoint);
        Assert.Equal(1, reports.GetArrayLength());
        return reports[0];
    }
}
