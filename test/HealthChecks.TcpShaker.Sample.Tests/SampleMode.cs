namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>The mode the sample checks in, as its appsettings.json (<c>PreferRawSyn: true</c>) makes it here.</summary>
internal static class SampleMode
{
    /// <summary>RawSyn where this process may open raw sockets (as root), else HalfOpen on Linux, else FullConnect.</summary>
    public static string Expected =>
        RawSocketAccess.SkipReason() is null ? "RawSyn" : OperatingSystem.IsLinux() ? "HalfOpen" : "FullConnect";
}
