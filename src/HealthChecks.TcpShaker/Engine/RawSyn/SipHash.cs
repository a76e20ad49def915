using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudorandom function with a 128-bit key and
/// a 64-bit output, the one the kernel's <c>secure_tcp_seq</c> uses for initial sequence numbers.
/// Without the key, outputs for chosen inputs give nothing away about the key or about other outputs.
/// Allocation-free; the fixed four-word form is what the loop calls for each check.
/// </summary>
internal static class SipHash
{
    /// <summary>A fresh random 128-bit key (one per engine).</summary>
    internal static SipKey NewKey()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return new SipKey(BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]));
    }

    /// <summary>SipHash-2-4 of <paramref name="message"/> (the reference definition, any length).</summary>
    internal static ulong Hash(SipKey key, ReadOnlySpan<byte> message)
    {
        State s = new(key);
        int whole = message.Length & ~7;
        for (int i = 0; i < whole; i += 8)
        {
            s.Compress(BinaryPrimitives.ReadUInt64LittleEndian(message[i..]));
        }

        ulong last = (ulong)(uint)message.Length << 56;
        for (int i = whole; i < message.Length; i++)
        {
            last |= (ulong)message[i] << (8 * (i - whole));
        }

        s.Compress(last);
        return s.Finish();
    }

    /// <summary>SipHash-2-4 of the 32 bytes that are <paramref name="m0"/> to <paramref name="m3"/> in little-endian order.</summary>
    internal static ulong Hash(SipKey key, ulong m0, ulong m1, ulong m2, ulong m3)
    {
        State s = new(key);
        s.Compress(m0);
        s.Compress(m1);
        s.Compress(m2);
        s.Compress(m3);
        s.Compress(32UL << 56);
        return s.Finish();
    }

    private struct State
    {
        private ulong _v0;
        private ulong _v1;
        private ulong _v2;
        private ulong _v3;

        internal State(SipKey key)
        {
            _v0 = key.K0 ^ 0x736f6d6570736575UL;
            _v1 = key.K1 ^ 0x646f72616e646f6dUL;
            _v2 = key.K0 ^ 0x6c7967656e657261UL;
            _v3 = key.K1 ^ 0x7465646279746573UL;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal void Compress(ulong m)
        {
            _v3 ^= m;
            Round();
            Round();
            _v0 ^= m;
        }

        internal ulong Finish()
        {
            _v2 ^= 0xff;
            Round();
            Round();
            Round();
            Round();
            return _v0 ^ _v1 ^ _v2 ^ _v3;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Round()
        {
            _v0 += _v1;
            _v1 = BitOperations.RotateLeft(_v1, 13) ^ _v0;
            _v0 = BitOperations.RotateLeft(_v0, 32);
            _v2 += _v3;
            _v3 = BitOperations.RotateLeft(_v3, 16) ^ _v2;
            _v0 += _v3;
            _v3 = BitOperations.RotateLeft(_v3, 21) ^ _v0;
            _v2 += _v1;
            _v1 = BitOperations.RotateLeft(_v1, 17) ^ _v2;
            _v2 = BitOperations.RotateLeft(_v2, 32);
        }
    }
}

/// <summary>A 128-bit SipHash key, as its two little-endian halves.</summary>
internal readonly record struct SipKey(ulong K0, ulong K1);
