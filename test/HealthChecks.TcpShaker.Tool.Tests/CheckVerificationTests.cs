using HealthChecks.TcpShaker.Testing;
using HealthChecks.TcpShaker.Tool.Commands;

namespace HealthChecks.TcpShaker.Tool.Tests;

/// <summary>
/// <c>check</c> verifies its own half-open checks instead of running the engine's start-up self-test
/// first: a check that completed the handshake must be caught, and a half-open one must pass.
/// </summary>
public sealed class CheckVerificationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Half_open_checks_pass_the_verification()
    {
        using var target = new LoopbackListener();
        using CheckVerification verification = CheckVerification.Start();
        TcpCheckResult privateCheck;
        TcpCheckResult result;
        await using (var shaker = new TcpShaker(new TcpShakerOptions { VerifyOnStart = false }))
        {
            Task<TcpCheckResult> privateTask = verification.CheckPrivateListener(shaker, Ct)!;
            result = await shaker.CheckAsync(target.EndPoint, TimeSpan.FromSeconds(2), Ct);
            privateCheck = await privateTask;
        }

        Assert.Equal(TcpCheckStatus.Open, result.Status);
        Assert.Equal(TcpCheckStatus.Open, privateCheck.Status);
        Assert.Null(verification.Problem(privateCheck, out string? unverified));
        Assert.Null(unverified);
        Assert.False(target.HasPendingConnection);
    }

    [Fact]
    public async Task A_completed_handshake_is_caught()
    {
        // Connect-and-abort completes the handshake, as a kernel that ignored TCP_QUICKACK would:
        // the private listener then has a connection to accept.
        using CheckVerification verification = CheckVerification.Start();
        TcpCheckResult privateCheck;
        await using (var shaker = new TcpShaker(new TcpShakerOptions { ForceFullConnect = true }))
        {
            privateCheck = await verification.CheckPrivateListener(shaker, Ct)!;
        }

        Assert.Equal(TcpCheckStatus.Open, privateCheck.Status);
        string? problem = verification.Problem(privateCheck, out _);
        Assert.NotNull(problem);
        Assert.Contains("completed the handshake", problem, StringComparison.Ordinal);
    }
}
