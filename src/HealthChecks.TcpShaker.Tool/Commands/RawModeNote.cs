namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>What the tool says when <c>--raw</c> was asked for and raw SYN mode is not what runs.</summary>
internal static class RawModeNote
{
    internal static Task WriteIfUnavailableAsync(ToolConsole console, bool requested, TcpShakerMode mode) =>
        requested && mode != TcpShakerMode.RawSyn
            ? console.Error.WriteLineAsync($"tcp-shaker: --raw: raw SYN mode is not available here (it needs Linux, CAP_NET_RAW, and a firewall that lets the kernel's RSTs out); checking in {mode} mode.")
            : Task.CompletedTask;
}
