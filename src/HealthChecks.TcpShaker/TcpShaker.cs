using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Endpoints;
using HealthChecks.TcpShaker.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker;

/// <summary>
/// Checks TCP ports, from any thread, through one shared engine: on Linux the half-open engine (SYN,
/// SYN-ACK, RST on dedicated epoll loops, so the servers checked never see a connection), elsewhere
/// the full-connect engine (connect, then abort). Create one per process (the health-check
/// registration shares one through DI). The engine starts on first use or on <see cref="StartAsync"/>.
/// </summary>
public sealed partial class TcpShaker : IAsyncDisposable
{
    /// <summary>The longest timeout a check accepts.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(10);

    private readonly TcpShakerMetrics _metrics;
    private readonly EngineHost _host;
    private int _disposed;

    /// <summary>Creates a checker; nothing starts until the first check or <see cref="StartAsync"/>.</summary>
    /// <param name="options">The engine's settings; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (the message names it).</exception>
    public TcpShaker(TcpShakerOptions? options = null)
        : this(options, null, null)
    {
    }

    /// <summary>Creates a checker that logs and reports metrics through the given factories.</summary>
    /// <param name="options">The engine's settings; <see langword="null"/> for the defaults.</param>
    /// <param name="loggerFactory">Where to log mode changes and loop failures; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Where to create the <c>HealthChecks.TcpShaker</c> meter; <see langword="null"/> for a meter of its own.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (the message names it).</exception>
    public TcpShaker(TcpShakerOptions? options, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory = null)
    {
        options ??= new TcpShakerOptions();
        options.Validate();
        _metrics = new TcpShakerMetrics(meterFactory);
        _host = new EngineHost(options, (ILogger?)loggerFactory?.CreateLogger<TcpShaker>() ?? NullLogger.Instance, _metrics);
    }

    /// <summary>
    /// How checks are made: <see cref="TcpShakerMode.RawSyn"/> when <see cref="TcpShakerOptions.PreferRawSyn"/> asks
    /// for it and the process may; else <see cref="TcpShakerMode.HalfOpen"/> on Linux unless forced off or the
    /// start-up verification failed; else <see cref="TcpShakerMode.FullConnect"/>. Before the engine
    /// has started this is the mode it expects to run in.
    /// </summary>
    public TcpShakerMode Mode => _host.Mode;

    /// <summary>
    /// Why <see cref="Mode"/> is not the mode the options ask for (<see cref="TcpShakerMode.RawSyn"/> with
    /// <see cref="TcpShakerOptions.PreferRawSyn"/>, else <see cref="TcpShakerMode.HalfOpen"/> unless
    /// <see cref="TcpShakerOptions.ForceFullConnect"/>), as the engine logged it once at start: for example
    /// "raw SYN mode is unavailable: the process may not open raw sockets (it lacks CAP_NET_RAW)".
    /// <see langword="null"/> when the engine runs the mode asked for, or has not started.
    /// </summary>
    public string? ModeReason => _host.ModeReason;

    /// <summary>Starts the engine now rather than on the first check (the hosted service calls this).</summary>
    /// <param name="cancellationToken">Cancels waiting for the start; the engine keeps starting.</param>
    /// <returns>A task that completes when the engine runs.</returns>
    /// <exception cref="InvalidOperationException">A loop could not be set up (no file descriptor for epoll, say); a later call or check tries again.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _host.EnsureStarted().WaitAsync(cancellationToken);
    }

    /// <summary>The running engine, starting it if needed (the monitor runs watches inside it).</summary>
    internal Task<ICheckEngine> EngineAsync()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _host.EnsureStarted();
    }

    /// <summary>The engine that runs after <paramref name="stopped"/> stopped under a watch (the monitor re-attaches its watches there).</summary>
    internal Task<ICheckEngine> EngineAfterAsync(ICheckEngine stopped)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _host.EngineAfterAsync(stopped);
    }

    /// <summary>Whether <see cref="DisposeAsync"/> was called.</summary>
    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Checks whether <paramref name="endpoint"/> accepts TCP connections.</summary>
    /// <param name="endpoint">The address and port.</param>
    /// <param name="timeout">How long to wait for an answer: more than zero, at most <see cref="MaxTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the check; the socket is closed at once.</param>
    /// <returns>The result; a timeout is a result (<see cref="TcpCheckStatus.Timeout"/>), not an exception.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled, or the engine stopped first.</exception>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
    /// <exception cref="InvalidOperationException">The engine's loop faulted again and again, so it stopped restarting: checks have stopped for good (the message names the last fault).</exception>
    public ValueTask<TcpCheckResult> CheckAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ValidateTimeout(timeout);
        if (endpoint.Port == 0)
        {
            throw new ArgumentException(TcpEndpoint.InvalidEndpointMessage(endpoint.ToString(), "port 0 cannot be checked"), nameof(endpoint));
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<TcpCheckResult>(cancellationToken);
        }

        if (TcpShakerActivity.Source.HasListeners())
        {
            return CheckWithActivityAsync(endpoint, timeout, cancellationToken);
        }

        return _host.Engine is { } engine
            ? engine.CheckAsync(endpoint, timeout, cancellationToken)
            : CheckAfterStartAsync(endpoint, timeout, cancellationToken);
    }

    /// <summary>Checks <c>host:port</c>; a host name is resolved and every address checked.</summary>
    /// <param name="endpoint"><c>host:port</c>, <c>10.0.0.5:5432</c> or <c>[::1]:6379</c>.</param>
    /// <param name="timeout">For resolving and checking together.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>An open address's result when any address is open, else the first address's failure.</returns>
    /// <exception cref="ArgumentException"><paramref name="endpoint"/> is not a valid <c>host:port</c>.</exception>
    public ValueTask<TcpCheckResult> CheckAsync(string endpoint, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        CheckAsync(TcpEndpoint.Parse(endpoint), timeout, cancellationToken);

    /// <summary>Checks an endpoint; a host name is resolved and every address checked.</summary>
    /// <param name="endpoint">The endpoint.</param>
    /// <param name="timeout">For resolving and checking together.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>An open address's result when any address is open, else the first address's failure.</returns>
    public ValueTask<TcpCheckResult> CheckAsync(TcpEndpoint endpoint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.Address is { } address)
        {
            return CheckAsync(new IPEndPoint(address, endpoint.Port), timeout, cancellationToken);
        }

        return AnyOpenAsync(endpoint, timeout, cancellationToken);

        async ValueTask<TcpCheckResult> AnyOpenAsync(TcpEndpoint endpoint, TimeSpan timeout, CancellationToken cancellationToken) =>
            AddressResults.Combine(await CheckAllAddressesAsync(endpoint, timeout, null, cancellationToken).ConfigureAwait(false), requireAll: false);
    }

    /// <summary>Resolves an endpoint and checks each of its addresses at once.</summary>
    /// <param name="endpoint">The endpoint; an IP literal is its only address.</param>
    /// <param name="timeout">For resolving and checking together.</param>
    /// <param name="addressFamily">Only addresses of this family (<see cref="AddressFamily.InterNetwork"/> or <see cref="AddressFamily.InterNetworkV6"/>); <see langword="null"/> for both.</param>
    /// <param name="cancellationToken">Cancels the checks.</param>
    /// <returns>One result per address, in the resolver's order; a single <see cref="TcpCheckStatus.ResolveFailed"/> result when none was found.</returns>
    public async Task<IReadOnlyList<TcpCheckResult>> CheckAllAddressesAsync(TcpEndpoint endpoint, TimeSpan timeout, AddressFamily? addressFamily = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ValidateTimeout(timeout);
        long started = Stopwatch.GetTimestamp();
        (IPAddress[] addresses, TcpCheckResult? failure) = ResolveOverride is { } resolve
            ? (resolve(endpoint), null)
            : await EndpointResolver.ResolveAsync(endpoint, addressFamily, timeout, cancellationToken).ConfigureAwait(false);
        if (failure is { } resolveFailure)
        {
            return [resolveFailure];
        }

        TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(started);
        if (remaining <= TimeSpan.Zero)
        {
            return [CheckErrors.DeadlineReached(new IPEndPoint(addresses[0], endpoint.Port), Stopwatch.GetElapsedTime(started))];
        }

        var checks = new Task<TcpCheckResult>[addresses.Length];
        for (int i = 0; i < addresses.Length; i++)
        {
            checks[i] = CheckAsync(new IPEndPoint(addresses[i], endpoint.Port), remaining, cancellationToken).AsTask();
        }

        return await Task.WhenAll(checks).ConfigureAwait(false);
    }

    /// <summary>The one rule for every timeout this library takes: more than zero, at most <see cref="MaxTimeout"/>.</summary>
    internal static bool IsValidTimeout(TimeSpan timeout) => timeout > TimeSpan.Zero && timeout <= MaxTimeout;

    private static void ValidateTimeout(TimeSpan timeout)
    {
        if (!IsValidTimeout(timeout))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout,
                $"A check's timeout must be more than zero and at most {MaxTimeout.TotalMinutes:0} minutes: a probe must not hang.");
        }
    }

    private async ValueTask<TcpCheckResult> CheckAfterStartAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ICheckEngine engine;
        try
        {
            engine = await _host.EnsureStarted().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (EngineStartException exception)
        {
            // No fd for epoll is the same local condition as no fd for the socket: a result, and the
            // next check tries to start again.
            return CheckErrors.EngineNotStarted(endpoint, exception.Errno);
        }

        return await engine.CheckAsync(endpoint, timeout, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<TcpCheckResult> CheckWithActivityAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using Activity? activity = TcpShakerActivity.StartCheck(endpoint);
        try
        {
            TcpCheckResult result = _host.Engine is { } engine
                ? await engine.CheckAsync(endpoint, timeout, cancellationToken).ConfigureAwait(false)
                : await CheckAfterStartAsync(endpoint, timeout, cancellationToken).ConfigureAwait(false);
            TcpShakerActivity.Complete(activity, Mode, result);
            return result;
        }
        catch (Exception exception) when (TcpShakerActivity.Fail(activity, exception))
        {
            throw; // never reached: the filter only marks the span
        }
    }

    /// <summary>
    /// Stops the engine. Every check still queued or in flight completes at once with
    /// <see cref="OperationCanceledException"/>, and every socket is closed.
    /// </summary>
    /// <returns>A task that completes when the engine has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _host.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
    }
}
