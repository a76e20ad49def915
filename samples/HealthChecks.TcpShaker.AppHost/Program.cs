// The sample app, the YARP gateway and a Redis server, each healthy when its port answers a half-open check:
// `dotnet run --project samples/HealthChecks.TcpShaker.AppHost`, then the dashboard on http://localhost:15080.
var builder = DistributedApplication.CreateBuilder(args);

// Redis as a plain process (no container runtime needed). DCP's proxy takes 6479, redis-server itself listens on
// 6480, and the check watches 6480: the proxy's port would say nothing about redis.
var redis = builder.AddExecutable("redis", "redis-server", ".", "--port", "6480", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
    .WithEndpoint(port: 6479, targetPort: 6480, scheme: "tcp", name: "tcp")
    .WithTcpShakerHealthCheck("tcp");

// The sample listens on 127.0.0.1:5080 (its appsettings' Urls), unproxied; its "dependencies" check now watches Redis.
builder.AddProject<Projects.HealthChecks_TcpShaker_Sample>("sample", launchProfileName: null)
    .WithHttpEndpoint(port: 5080, name: "http", isProxied: false)
    .WithEnvironment("HealthChecks__Dependencies__Endpoints__0", "127.0.0.1:6480")
    .WithTcpShakerHealthCheck("http")
    .WaitFor(redis);

// The gateway listens on 127.0.0.1:5090 and starts its three backends itself.
builder.AddProject<Projects.HealthChecks_TcpShaker_Gateway>("gateway", launchProfileName: null)
    .WithHttpEndpoint(port: 5090, name: "http", isProxied: false)
    .WithTcpShakerHealthCheck("http");

builder.Build().Run();
