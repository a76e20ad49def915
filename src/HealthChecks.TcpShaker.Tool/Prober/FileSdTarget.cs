namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>One target of a file_sd targets file, with its group's labels (sorted by name, <c>__</c> labels dropped).</summary>
/// <param name="Endpoint">The target, parsed.</param>
/// <param name="Target">The target as the file writes it: the <c>target</c> label.</param>
/// <param name="Labels">The group's labels.</param>
internal sealed record FileSdTarget(TcpEndpoint Endpoint, string Target, IReadOnlyList<KeyValuePair<string, string>> Labels)
{
    /// <summary>What makes two targets the same watch: the target and every label.</summary>
    internal string Key => Target + "\0" + string.Join("\0", Labels.Select(label => label.Key + "=" + label.Value));
}
