using System.Net;
using HealthChecks.TcpShaker.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// The health endpoints reveal every dependency's address, port and errno: the sample gives that
/// detail to callers on this machine only. A request that is not from loopback (TestServer's
/// requests carry no remote address) is refused /health and gets the status word from the probes.
/// </summary>
public sealed class HealthDisclosureTests : IDisposable
{
    private readonly LoopbackListener _listener = new();
    private readonly ClosedPort _closed = new();

    private WebApplicationFactory<Program> Factory(bool fromLoopback) => new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
    {
        web.UseSetting("HealthChecks:SelfHttp:Endpoints:0", _listener.EndPoint.ToString())
            .UseSetting("HealthChecks:Dependencies:Endpoints:0", _closed.EndPoint.ToString());
        if (fromLoopback)
        {
            web.ConfigureServices(services => services.AddSingleton<IStartupFilter, LoopbackCaller>());
        }
    });

    [Fact]
    public async Task Health_refuses_a_caller_that_is_not_on_this_machine()
    {
        await using WebApplicationFactory<Program> factory = Factory(fromLoopback: false);
        using HttpClient client = factory.CreateClient();

        using HttpResponseMessage response = await client.GetAsync("/health", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.DoesNotContain(_closed.EndPoint.ToString(), body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/readyz", HttpStatusCode.ServiceUnavailable, "Unhealthy")]
    [InlineData("/livez", HttpStatusCode.OK, "Healthy")]
    public async Task Probes_answer_a_remote_caller_with_the_status_word_only(string path, HttpStatusCode expectedCode, string expectedBody)
    {
        await using WebApplicationFactory<Program> factory = Factory(fromLoopback: false);
        using HttpClient client = factory.CreateClient();

        using HttpResponseMessage response = await client.GetAsync(path, TestContext.Current.CancellationToken);

        Assert.Equal(expectedCode, response.StatusCode);
        Assert.Equal(expectedBody, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Health_shows_every_address_to_a_caller_on_this_machine()
    {
        await using WebApplicationFactory<Program> factory = Factory(fromLoopback: true);
        using HttpClient client = factory.CreateClient();

        using HttpResponseMessage response = await client.GetAsync("/health", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        HealthJson health = await HealthJson.ReadAsync(response, TestContext.Current.CancellationToken);
        Assert.Equal("Refused", health.EndpointReport("dependencies", _closed.EndPoint.ToString()).GetProperty("status").GetString());
    }

    public void Dispose()
    {
        _listener.Dispose();
        _closed.Dispose();
    }
}
