using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// TestServer's requests have no remote address; the sample serves health detail only to callers on
/// this machine. Added to a WebApplicationFactory, this makes every request come from 127.0.0.1, as
/// a browser's or curl's does on a developer's machine.
/// </summary>
internal sealed class LoopbackCaller : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            context.Connection.RemoteIpAddress = IPAddress.Loopback;
            return nextMiddleware(context);
        });
        next(app);
    };
}
