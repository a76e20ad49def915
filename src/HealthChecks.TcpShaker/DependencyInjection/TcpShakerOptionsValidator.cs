using System.Globalization;
using HealthChecks.TcpShaker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Validates the engine's <see cref="TcpShakerOptions"/> through the options pattern, so a bad setting fails the host at start;
/// a setting that configuration holds is named by its key as well (<c>HealthChecks:Engine:LoopCount</c>).
/// </summary>
internal sealed class TcpShakerOptionsValidator(IEnumerable<TcpShakerEngineConfiguration> sources) : IValidateOptions<TcpShakerOptions>
{
    public ValidateOptionsResult Validate(string? name, TcpShakerOptions options)
    {
        var errors = options.Errors();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Select(error => TcpShakerOptions.Describe(error, KeyOf(error.Name, error.Value))));
    }

    /// <summary>
    /// The configuration key <paramref name="setting"/>'s bad <paramref name="value"/> was bound from (the last source
    /// that holds it, as the last binding wins), or <see langword="null"/> when none does (it was set in code).
    /// </summary>
    private string? KeyOf(string setting, object value) =>
        sources.Select(source => source.Configuration.GetSection(setting))
            .LastOrDefault(section => section.Value is { } text && string.Equals(text.Trim(), Convert.ToString(value, CultureInfo.InvariantCulture), StringComparison.OrdinalIgnoreCase))?.Path;
}

/// <summary>A configuration the engine's options were bound from (<c>AddTcpShakerEngine(IConfiguration)</c>), so errors can name its keys.</summary>
internal sealed class TcpShakerEngineConfiguration(IConfiguration configuration)
{
    public IConfiguration Configuration { get; } = configuration;
}
