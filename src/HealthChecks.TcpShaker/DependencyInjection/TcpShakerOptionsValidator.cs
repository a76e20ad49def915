using HealthChecks.TcpShaker;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Validates the engine's <see cref="TcpShakerOptions"/> through the options pattern, so a bad setting fails the host at start.</summary>
internal sealed class TcpShakerOptionsValidator : IValidateOptions<TcpShakerOptions>
{
    public ValidateOptionsResult Validate(string? name, TcpShakerOptions options)
    {
        var errors = options.Errors();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Select(TcpShakerOptions.Describe));
    }
}
