namespace HealthChecks.TcpShaker.Reliability.Tests.Support;

/// <summary>
/// One test of this assembly run in a child process (a small fd limit, another network namespace) so
/// that what it does to its process touches no other test. The child runs the test host with
/// <c>-method</c> and an environment variable set; the test itself skips unless it finds that variable.
/// </summary>
internal static class ChildTest
{
    /// <summary>The command line after any launcher (<c>prlimit</c>, <c>ip netns exec</c>): the variable, this test host, the one test.</summary>
    internal static string[] Command(Type testClass, string method, string variable, string value) =>
        ["env", $"{variable}={value}", Environment.ProcessPath!, "-method", $"{testClass.FullName}.{method}"];

    /// <summary>Asserts that the child ran its one test and that it passed; its output goes to this test's.</summary>
    internal static void AssertPassed((int ExitCode, string Stdout, string Stderr) run)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(run.Stdout);
        Assert.True(run.ExitCode == 0, $"child exited with {run.ExitCode}: {run.Stdout} {run.Stderr}");
        Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", run.Stdout, StringComparison.Ordinal);
    }
}
