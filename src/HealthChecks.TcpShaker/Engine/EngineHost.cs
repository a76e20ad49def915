using HealthChecks.TcpShaker.Diagnostics;
using HealthChecks.TcpShaker.Engine.FullConnect;
using HealthChecks.TcpShaker.Engine.HalfOpen;
using HealthChecks.TcpShaker.Engine.Loop;
using HealthChecks.TcpShaker.Engine.RawSyn;
using Microsoft.Extensions.Logging;

namespace HealthChecks.TcpShaker.Engine;

/// <summary>
/// An engine's life, owned by one <see cref="TcpShaker"/>: start on first use, verify the half-open
/// technique once, fall back to the full-connect engine (and say why, once), retry a start that failed,
/// restart an engine whose loop faulted (with back-off; after <see cref="MaxFaults"/> faults within
/// <see cref="FaultWindow"/> it gives up for good, and every check says so), stop.
/// </summary>
internal sealed class EngineHost(TcpShakerOptions options, ILogger logger, TcpShakerMetrics metrics) : IAsyncDisposable
{
    private readonly object _startLock = new();
    private readonly Queue<long> _faultTimes = new();
    private Task<ICheckEngine>? _starting;
    private volatile ICheckEngine? _engine;
    private TaskCompletionSource _engineReplaced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private EngineFaultedException? _gaveUp;
    private int _disposed;

    /// <summary>Faults within <see cref="FaultWindow"/> after which the engine is not restarted again.</summary>
    internal int MaxFaults { get; set; } = 5;

    /// <summary>How far back faults count towards <see cref="MaxFaults"/>.</summary>
    internal TimeSpan FaultWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The wait before the first restart; it doubles with each fault in the window, up to 5 s.</summary>
    internal TimeSpan RestartDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Restarts after a fault so far.</summary>
    internal int Restarts { get; private set; }

    /// <summary>The running engine, once started.</summary>
    internal ICheckEngine? Engine => _engine;

    /// <summary>Why the running engine is not in the mode the options ask for (the reason logged once), or null.</summary>
    internal string? ModeReason { get; private set; }

    /// <summary>The mode the engine runs in, or expects to run in before it has started.</summary>
    internal TcpShakerMode Mode => _engine?.Mode ?? (HalfOpenPossible ? TcpShakerMode.HalfOpen : TcpShakerMode.FullConnect);

    /// <summary>Test hook: make raw SYN mode unavailable for this reason (as a process without CAP_NET_RAW finds it).</summary>
    internal string? ForceRawSynUnavailable { get; set; }

    /// <summary>Test hook: make every start fail with this exception (one the callers do not expect).</summary>
    internal Exception? ForceStartFailure { get; set; }

    /// <summary>Test hook: make the start-up verification report the technique as broken.</summary>
    internal string? ForceBrokenTechnique { get; set; }

    private bool HalfOpenPossible => OperatingSystem.IsLinux() && !options.ForceFullConnect;

    /// <summary>The running engine, starting it if needed. A start that failed is not cached: the next call tries again.</summary>
    /// <exception cref="EngineStartException">A loop could not be set up (no fd for epoll, say).</exception>
    /// <exception cref="ObjectDisposedException">The owner was disposed meanwhile.</exception>
    /// <exception cref="EngineFaultedException">The loop faulted too often; the engine no longer restarts.</exception>
    internal Task<ICheckEngine> EnsureStarted()
    {
        if (_starting is { IsFaulted: false } starting)
        {
            return starting;
        }

        lock (_startLock)
        {
            if (_gaveUp is { } gaveUp)
            {
                return Task.FromException<ICheckEngine>(gaveUp);
            }

            if (_starting is null || _starting.IsFaulted)
            {
                _starting = Task.Run(StartAsync);
            }

            return _starting;
        }
    }

    /// <summary>
    /// The engine that runs after <paramref name="stopped"/> (whose loops stopped): the restarted one once the
    /// host has handled its stop, starting it if needed.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The host was disposed: nothing will check again.</exception>
    /// <exception cref="EngineFaultedException">The loop faulted too often; the engine no longer restarts.</exception>
    /// <exception cref="EngineStartException">The restart could not set up a loop.</exception>
    internal async Task<ICheckEngine> EngineAfterAsync(ICheckEngine stopped)
    {
        Task replaced;
        lock (_startLock)
        {
            replaced = ReferenceEquals(_engine, stopped) ? _engineReplaced.Task : Task.CompletedTask;
        }

        await replaced.ConfigureAwait(false);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, typeof(TcpShaker));
        return await EnsureStarted().ConfigureAwait(false);
    }

    private async Task<ICheckEngine> StartAsync()
    {
        if (ForceStartFailure is { } failure)
        {
            throw failure;
        }

        ICheckEngine engine;
        if (HalfOpenPossible && options.PreferRawSyn && await TryStartRawSynAsync().ConfigureAwait(false) is { } raw)
        {
            engine = raw;
        }
        else if (HalfOpenPossible)
        {
            engine = await VerifyOrFallBackAsync(new HalfOpenEngine(options, metrics)).ConfigureAwait(false);
        }
        else
        {
            if (options.ForceFullConnect)
            {
                Log.FellBackToFullConnect(logger, "TcpShakerOptions.ForceFullConnect is set");
            }
            else
            {
                FellBackToFullConnect($"half-open checking needs Linux's TCP_QUICKACK, and this is {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
            }

            engine = new FullConnectEngine(options, metrics);
        }

        if (options.RaiseLoopPriority && engine is HalfOpenEngine halfOpen)
        {
            _ = LogPriorityRefusedAsync(halfOpen);
        }

        lock (_startLock)
        {
            _engine = engine;
            _engineReplaced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _ = RestartOnFaultAsync(engine);
        if (Volatile.Read(ref _disposed) != 0)
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(TcpShaker));
        }

        // Only half-open mode runs LoopCount loops: raw SYN mode runs one, the full-connect engine none (it uses the thread pool).
        Log.Started(logger, engine.Mode, engine.Mode switch { TcpShakerMode.HalfOpen => options.LoopCount, TcpShakerMode.RawSyn => 1, _ => 0 });
        return engine;
    }

    /// <summary>The raw SYN engine, started and verified; or null, with the reason logged (once: a start is not retried after it succeeded).</summary>
    private async Task<ICheckEngine?> TryStartRawSynAsync()
    {
        string reason;
        if (ForceRawSynUnavailable is { } forced)
        {
            reason = forced;
        }
        else
        {
            RawSynEngine engine;
            try
            {
                engine = new RawSynEngine(options, metrics);
            }
            catch (EngineStartException exception)
            {
                RawSynUnavailable(exception.Errno == Interop.Errno.EPERM
                    ? "the process may not open raw sockets (it lacks CAP_NET_RAW)"
                    : exception.Message);
                return null;
            }

            metrics.Muted = true;
            (bool holds, reason) = await RawSynVerifier.VerifyAsync(engine, CancellationToken.None).ConfigureAwait(false);
            metrics.Muted = false;
            if (holds)
            {
                return engine;
            }

            await engine.DisposeAsync().ConfigureAwait(false);
        }

        RawSynUnavailable(reason);
        return null;
    }

    private void RawSynUnavailable(string reason)
    {
        ModeReason = $"raw SYN mode is unavailable: {reason}";
        Log.RawSynUnavailable(logger, reason);
    }

    private void FellBackToFullConnect(string reason)
    {
        // A raw SYN refusal said first stays in front: both are why the mode is not the one asked for.
        ModeReason = ModeReason is null ? $"half-open checking is unavailable: {reason}" : $"{ModeReason}; half-open checking is unavailable: {reason}";
        Log.FellBackToFullConnect(logger, reason);
    }

    private async Task<ICheckEngine> VerifyOrFallBackAsync(HalfOpenEngine engine)
    {
        if (!options.VerifyOnStart && ForceBrokenTechnique is null)
        {
            return engine;
        }

        metrics.Muted = true;
        (TechniqueVerifier.Verdict verdict, string reason) = ForceBrokenTechnique is { } forced
            ? (TechniqueVerifier.Verdict.Broken, forced)
            : await TechniqueVerifier.VerifyAsync(engine, CancellationToken.None).ConfigureAwait(false);
        metrics.Muted = false;

        switch (verdict)
        {
            case TechniqueVerifier.Verdict.Broken:
                FellBackToFullConnect(reason);
                await engine.DisposeAsync().ConfigureAwait(false);
                return new FullConnectEngine(options, metrics);
            case TechniqueVerifier.Verdict.Unknown:
                Log.VerificationSkipped(logger, reason);
                return engine;
            default:
                return engine;
        }
    }

    private async Task LogPriorityRefusedAsync(HalfOpenEngine engine)
    {
        if (await engine.PriorityRaisedAsync().ConfigureAwait(false) is int errno and not 0)
        {
            Log.PriorityRefused(logger, errno);
        }
    }

    /// <summary>
    /// Waits for the engine to stop. A stop without a fault is a dispose: nothing to do. A fault stops the rest of
    /// the engine, then starts a new one after a back-off, so checks and watches carry on; after
    /// <see cref="MaxFaults"/> faults within <see cref="FaultWindow"/> every later check fails with
    /// <see cref="EngineFaultedException"/> instead. Either way, whoever waits in <see cref="EngineAfterAsync"/> is released.
    /// </summary>
    private async Task RestartOnFaultAsync(ICheckEngine engine)
    {
        Exception? fault = await engine.FirstFault.ConfigureAwait(false);
        TaskCompletionSource replaced;
        TimeSpan? delay = null;
        lock (_startLock)
        {
            replaced = _engineReplaced;
            if (fault is not null && Volatile.Read(ref _disposed) == 0 && ReferenceEquals(_engine, engine))
            {
                _engine = null;
                long now = Environment.TickCount64;
                _faultTimes.Enqueue(now);
                while (_faultTimes.Count > 0 && now - _faultTimes.Peek() > (long)FaultWindow.TotalMilliseconds)
                {
                    _faultTimes.Dequeue();
                }

                if (_faultTimes.Count >= MaxFaults)
                {
                    _gaveUp = new EngineFaultedException(_faultTimes.Count, FaultWindow, fault);
                    _starting = Task.FromException<ICheckEngine>(_gaveUp);
                }
                else
                {
                    delay = TimeSpan.FromTicks(Math.Min(RestartDelay.Ticks << Math.Min(_faultTimes.Count - 1, 16), TimeSpan.FromSeconds(5).Ticks));
                    Restarts++;
                    _starting = RestartAsync(delay.Value);
                }
            }
        }

        if (fault is not null)
        {
            if (_gaveUp is { } gaveUp && delay is null)
            {
                Log.LoopFailedForGood(logger, gaveUp.Message, fault);
            }
            else
            {
                Log.LoopFailed(logger, delay?.TotalMilliseconds ?? 0, fault);
            }

            // The other loops of the engine still run: stop them too, so the restarted engine is the only one.
            await engine.DisposeAsync().ConfigureAwait(false);
        }

        replaced.TrySetResult();
    }

    private async Task<ICheckEngine> RestartAsync(TimeSpan delay)
    {
        await Task.Delay(delay).ConfigureAwait(false);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, typeof(TcpShaker));
        return await StartAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the engine if one started: every check still held completes, every socket is closed.</summary>
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

        if (starting is null)
        {
            return;
        }

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
}
