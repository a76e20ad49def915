using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Endpoints;
using HealthChecks.TcpShaker.Engine;
using HealthChecks.TcpShaker.Fallback;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthChecks.TcpShaker;

/// <summary>
/// The shared TCP checking engine. On Linux it checks half-open (SYN, SYN-ACK, RST) on one or more
/// dedicated epoll loops, so the servers checked never see a connection; elsewhere it connects and
/// aborts. Create one per process (the health-check registration shares one through DI) and check
/// from any thread. The loop starts on first use or on <see cref="StartAsync"/>.
/// </summary>
public sealed class TcpShaker : IAsyncDisposable
{
    /// <summary>The longest timeout a check accepts.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(10);

    private readonly TcpShakerOptions _options;
    private readonly ILogger _logger;
    private readonly TcpShakerMetrics _metrics;
    private readonly object _startLock = new();
    private Task<ICheckEngine>? _starting;
    private ICheckEngine? _engine;
    private int _disposed;

    /// <summary>Creates an engine; nothing starts until the first check or <see cref="StartAsync"/>.</summary>
    /// <param name="options">Settings; <see langword="null"/> for the defaults.</param>
    public TcpShaker(TcpShakerOptions? options = null)
        : this(options, null, null)
    {
    }

    /// <summary>Creates an engine that logs and reports metrics through the given factories.</summary>
    /// <param name="options">Settings; <see langword="null"/> for the defaults.</param>
    /// <param name="loggerFactory">Where to log mode changes and loop failures; <see langword="null"/> for none.</param>
    /// <param name="meterFactory">Where to create the <c>HealthChecks.TcpShaker</c> meter; <see langword="null"/> for a meter of its own.</param>
    public TcpShaker(TcpShakerOptions? options, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory = null)
    {
        _options = options ?? new TcpShakerOptions();
        _options.Validate();
        _logger = (ILogger?)loggerFactory?.CreateLogger<TcpShaker>() ?? NullLogger.Instance;
        _metrics = new TcpShakerMetrics(meterFactory);
    }

    /// <summary>
    /// How checks are made: <see cref="TcpShakerMode.HalfOpen"/> on Linux unless forced off or the
    /// start-up verification failed, else <see cref="TcpShakerMode.FullConnect"/>. Before the engine
    /// has started this is the mode it expects to run in.
    /// </summary>
    public TcpShakerMode Mode => _engine?.Mode ?? (HalfOpenPossible ? TcpShakerMode.HalfOpen : TcpShakerMode.FullConnect);

    private bool HalfOpenPossible => OperatingSystem.IsLinux() && !_options.ForceFullConnect;

    /// <summary>Test hook: make the start-up verification report the technique as broken.</summary>
    internal string? ForceBrokenTechnique { get; set; }

    /// <summary>Test hook: the running engine, once started.</summary>
    internal ICheckEngine? Engine => _engine;

    internal Meter Meter => _metrics.Meter;

    /// <summary>Starts the checking loop now rather than on the first check (the hosted service calls this).</summary>
    /// <param name="cancellationToken">Cancels waiting for the start; the engine keeps starting.</param>
    /// <returns>A task that completes when the engine runs.</returns>
    /// <exception cref="InvalidOperationException">A loop could not be set up (no file descriptor for epoll, say); a later call or check tries again.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return EnsureStarted().WaitAsync(cancellationToken);
    }

    /// <summary>Checks whether <paramref name="endpoint"/> accepts TCP connections.</summary>
    /// <param name="endpoint">The address and port.</param>
    /// <param name="timeout">How long to wait for an answer: more than zero, at most <see cref="MaxTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the check; the socket is closed at once.</param>
    /// <returns>The result; a timeout is a result (<see cref="TcpCheckStatus.Timeout"/>), not an exception.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled, or the engine stopped first.</exception>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
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

        return _engine is { } engine
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
            TcpCheckResults.Combine(await CheckAllAddressesAsync(endpoint, timeout, null, cancellationToken).ConfigureAwait(false), requireAll: false);
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
        (IPAddress[] addresses, TcpCheckResult? failure) = await EndpointResolver.ResolveAsync(endpoint, addressFamily, timeout, cancellationToken).ConfigureAwait(false);
        if (failure is { } resolveFailure)
        {
            return [resolveFailure];
        }

        TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(started);
        if (remaining <= TimeSpan.Zero)
        {
            return [new TcpCheckResult(TcpCheckStatus.Timeout, Stopwatch.GetElapsedTime(started), new IPEndPoint(addresses[0], endpoint.Port), Interop.Errno.ETIMEDOUT)];
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
            engine = await EnsureStarted().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (EngineStartException exception)
        {
            // No fd for epoll is the same local condition as no fd for the socket: a result, and the
            // next check tries to start again.
            return new TcpCheckResult(TcpCheckStatus.LocalError, TimeSpan.Zero, endpoint, exception.Errno);
        }

        return await engine.CheckAsync(endpoint, timeout, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<TcpCheckResult> CheckWithActivityAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using Activity? activity = TcpShakerActivity.StartCheck(endpoint);
        try
        {
            TcpCheckResult result = _engine is { } engine
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

    private Task<ICheckEngine> EnsureStarted()
    {
        if (_starting is { IsFaulted: false } starting)
        {
            return starting;
        }

        // A start that failed (no fd for epoll, say) is not cached: the next check tries again.
        lock (_startLock)
        {
            if (_starting is null || _starting.IsFaulted)
            {
                _starting = Task.Run(StartEngineAsync);
            }

            return _starting;
        }
    }

    private async Task<ICheckEngine> StartEngineAsync()
    {
        ICheckEngine engine = HalfOpenPossible ? new EpollEngine(_options, _metrics) : new ConnectAbortChecker(_options, _metrics);
        if (engine is EpollEngine epoll)
        {
            engine = await VerifyOrFallBackAsync(epoll).ConfigureAwait(false);
        }
        else if (_options.ForceFullConnect)
        {
            Log.FellBackToFullConnect(_logger, "TcpShakerOptions.ForceFullConnect is set");
        }
        else
        {
            Log.FellBackToFullConnect(_logger, $"half-open checking needs Linux's TCP_QUICKACK, and this is {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        }

        if (engine is EpollEngine running)
        {
            _ = ObserveFaultAsync(running);
        }

        _engine = engine;
        if (Volatile.Read(ref _disposed) != 0)
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(TcpShaker));
        }

        Log.Started(_logger, engine.Mode, _options.LoopCount);
        return engine;
    }

    private async Task<ICheckEngine> VerifyOrFallBackAsync(EpollEngine engine)
    {
        if (!_options.VerifyOnStart && ForceBrokenTechnique is null)
        {
            return engine;
        }

        _metrics.Muted = true;
        (TechniqueVerifier.Verdict verdict, string reason) = ForceBrokenTechnique is { } forced
            ? (TechniqueVerifier.Verdict.Broken, forced)
            : await TechniqueVerifier.VerifyAsync(engine, CancellationToken.None).ConfigureAwait(false);
        _metrics.Muted = false;

        switch (verdict)
        {
            case TechniqueVerifier.Verdict.Broken:
                Log.FellBackToFullConnect(_logger, reason);
                await engine.DisposeAsync().ConfigureAwait(false);
                return new ConnectAbortChecker(_options, _metrics);
            case TechniqueVerifier.Verdict.Unknown:
                Log.VerificationSkipped(_logger, reason);
                return engine;
            default:
                return engine;
        }
    }

    private async Task ObserveFaultAsync(EpollEngine engine)
    {
        if (await engine.FirstFault.ConfigureAwait(false) is { } fault)
        {
            Log.LoopFailed(_logger, fault);
        }
    }

    /// <summary>
    /// Stops the loops. Every check still queued or in flight completes at once with
    /// <see cref="OperationCanceledException"/>, and every socket is closed.
    /// </summary>
    /// <returns>A task that completes when the loops have exited.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Task<ICheckEngine>? starting;
        lock (_startLock)
        {
            starting = _starting;
        }

        if (starting is not null)
        {
            try
            {
                ICheckEngine engine = await starting.ConfigureAwait(false);
                await engine.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception exception) when (starting.IsFaulted || exception is ObjectDisposedException)
            {
                // Never started (its failure went to the checks that waited for it), or the start saw
                // the dispose and stopped the engine itself: nothing to stop.
            }
        }

        _metrics.Dispose();
    }
}
