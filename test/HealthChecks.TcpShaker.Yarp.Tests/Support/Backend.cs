using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Yarp.Tests.Support;

/// <summary>
/// A real Kestrel server on 127.0.0.1 that counts what reaches it: accepted connections (connection middleware,
/// so a connection counts even when it never sends a request), requests, and requests to <c>/health</c>
/// (YARP's HTTP probe path). It can be stopped and started again on the same port.
/// </summary>
internal sealed class Backend : IAsyncDisposable
{
    private WebApplication? _app;
    private long _connections;
    private long _requests;
    private long _healthRequests;
    private volatile HealthHold? _hold;

    private Backend(string name) => Name = name;

    public string Name { get; }

    public int Port { get; private set; }

    public string Address => $"http://127.0.0.1:{Port}/";

    public long Connections => Interlocked.Read(ref _connections);

    public long Requests => Interlocked.Read(ref _requests);

    public long HealthRequests => Interlocked.Read(ref _healthRequests);

    public bool IsRunning => _app is not null;

    /// <summary>The status code <c>/health</c> answers (200 unless set): what YARP's HTTP checks see.</summary>
    public int HealthStatus { get; set; } = StatusCodes.Status200OK;

    /// <summary>Holds the next requests to <c>/health</c> until the hold is released: an HTTP round kept running.</summary>
    public HealthHold HoldHealth()
    {
        var hold = new HealthHold();
        _hold = hold;
        return hold;
    }

    public static async Task<Backend> StartAsync(string name)
    {
        var backend = new Backend(name);
        await backend.StartAsync(0);
        return backend;
    }

    /// <summary>Starts again on the port it had.</summary>
    public Task RestartAsync() => StartAsync(Port);

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task StartAsync(int port)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port, listen => listen.Use(next => connection =>
        {
            Interlocked.Increment(ref _connections);
            return next(connection);
        })));
        WebApplication app = builder.Build();
        app.Run(async context =>
        {
            if (context.Request.Path.StartsWithSegments("/health"))
            {
                Interlocked.Increment(ref _healthRequests);
                if (_hold is { } hold)
                {
                    await hold.WaitAsync();
                }

                context.Response.StatusCode = HealthStatus;
            }
            else
            {
                Interlocked.Increment(ref _requests);
            }

            await context.Response.WriteAsync(Name);
        });
        await app.StartAsync();
        Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
        _app = app;
    }
}
