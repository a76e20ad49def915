using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HealthChecks.TcpShaker.Tests.Hosting;

/// <summary>
/// The shared engine starts once every hosted service has started (the app's server among them, which ASP.NET Core
/// registers after the app's own services): the app's listeners are bound before raw SYN mode reserves source ports
/// from the ephemeral range, so it can never take one of them. The host reports itself started with the engine running.
/// </summary>
public sealed class EngineLifetimeServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_engine_starts_after_the_apps_own_hosted_services_have_bound_their_ports()
    {
        using var target = new LoopbackListener();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddHealthChecks().AddTcpShaker("db", target.EndPoint.ToString());
        builder.Services.AddSingleton<ServerLikeService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ServerLikeService>()); // registered later, as Kestrel is
        using IHost host = builder.Build();

        await host.StartAsync(Ct);
        try
        {
            ServerLikeService server = host.Services.GetRequiredService<ServerLikeService>();
            Assert.False(server.EngineRanWhenItBound, "the engine started before the app's server bound its port");
            Assert.NotNull(host.Services.GetRequiredService<TcpShaker>().Engine); // started before the host says it has
            Assert.Equal(TcpCheckStatus.Open, (await host.Services.GetRequiredService<TcpShaker>().CheckAsync(server.EndPoint, TimeSpan.FromSeconds(2), Ct)).Status);
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    /// <summary>Binds and listens in its StartAsync, as the app's server does, and notes whether the engine ran by then.</summary>
    private sealed class ServerLikeService(TcpShaker shaker) : IHostedService, IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        internal bool EngineRanWhenItBound { get; private set; }

        internal IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(16);
            EngineRanWhenItBound = shaker.Engine is not null;
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose() => _listener.Dispose();
    }
}
