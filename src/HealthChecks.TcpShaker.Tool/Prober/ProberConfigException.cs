namespace HealthChecks.TcpShaker.Tool.Prober;

/// <summary>A modules file or a targets file that <c>serve</c> cannot use; the message names the file, the place and the reason.</summary>
internal sealed class ProberConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProberConfigException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public ProberConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message (for serializers; the prober always gives one).</summary>
    public ProberConfigException()
    {
    }
}
