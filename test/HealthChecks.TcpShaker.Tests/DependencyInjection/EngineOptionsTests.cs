using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace HealthChecks.TcpShaker.Tests.DependencyInjection;

/// <summary>The engine's options: bound from configuration, validated when the host starts.</summary>
public sealed class EngineOptionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Engine_options_bind_from_configuration_and_reach_the_shared_engine()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Engine:LoopCount"] = "2",
            ["Engine:MaxChecksInFlight"] = "1",
            ["Engine:ForceFullConnect"] = "true",
        }).Build();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddTcpShakerEngine(configuration.GetSection("Engine"));
        using IHost host = builder.Build();
        await host.StartAsync(Ct);

        TcpShakerOptions options = host.Services.GetRequiredService<IOptions<TcpShakerOptions>>().Value;
        var shaker = host.Services.GetRequiredService<TcpShaker>();

        Assert.Equal(2, options.LoopCount);
        Assert.Equal(TcpShakerMode.FullConnect, shaker.Mode); // ForceFullConnect came through to the engine
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task A_bad_engine_setting_fails_the_host_at_start_naming_the_setting()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddTcpShakerEngine(o =>
        {
            o.LoopCount = 0;
            o.MaxConnectsPerIteration = -1;
        });
        using IHost host = builder.Build();

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("TcpShakerOptions.LoopCount is 0", exception.Message, StringComparison.Ordinal);
        Assert.Contains("TcpShakerOptions.MaxConnectsPerIteration is -1", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_configured_engine_setting_names_its_configuration_key()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HealthChecks:Engine:LoopCount"] = "0",
        }).Build();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddTcpShakerEngine(configuration.GetSection("HealthChecks:Engine"));
        builder.Services.AddTcpShakerEngine(o => o.MaxConnectsPerIteration = -1); // set in code: no key to name
        using IHost host = builder.Build();

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("TcpShakerOptions.LoopCount is 0 (configuration key HealthChecks:Engine:LoopCount)", exception.Message, StringComparison.Ordinal);
        Assert.Contains("TcpShakerOptions.MaxConnectsPerIteration is -1:", exception.Message, StringComparison.Ordinal);
    }
}
