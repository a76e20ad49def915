namespace HealthChecks.TcpShaker.Tool.Commands;

/// <summary>What the tool says when <c>--raw</c> was asked for and raw SYN mode is not what runs.</summary>
internal static class RawModeNote
{
    /// <param name="console">Where the note goes (standard error).</param>
    /// <param name="requested">Whether <c>--raw</c> was given.</param>
    /// <param name="mode">The mode that ran.</param>
    /// <param name="reason">Why, as the engine said it (<see cref="TcpShaker.ModeReason"/>); null when it gave none.</param>
    internal static Task WriteIfUnavailableAsync(ToolConsole console, bool requested, TcpShakerMode mode, string? reason) =>
        requested && mode != TcpShakerMode.RawSyn
            ? console.Error.WriteLineAsync($"tcp-shaker: --raw: {reason ?? "raw SYN mode is not available here (it needs Linux, CAP_NET_RAW, and a firewall that lets the kernel's RSTs out)"}; checking in {mode} mode.")
            : Task.CompletedTask;
}
