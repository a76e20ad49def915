using HealthChecks.TcpShaker.Tool;

return await Cli.RunAsync(args, ToolConsole.FromSystemConsole(), handleSignals: true);
