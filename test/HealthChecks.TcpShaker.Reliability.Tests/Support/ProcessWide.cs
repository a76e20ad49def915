using HealthChecks.TcpShaker.Reliability.Tests.Support;

namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>Tests that count this process's sockets or file descriptors: they run alone, not beside other tests.</summary>
[CollectionDefinition(nameof(ProcessWide), DisableParallelization = true)]
public sealed class ProcessWide;
