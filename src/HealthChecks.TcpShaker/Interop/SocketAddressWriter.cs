using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

/// <summary>Writes an <see cref="IPEndPoint"/> as a native <c>sockaddr_in</c> / <c>sockaddr_in6</c> without allocating.</summary>
internal static class SocketAddressWriter
{
    /// <summary>Large enough for <c>sockaddr_in6</c>.</summary>
    internal const int MaxSize = 28;

    /// <summary>Writes <paramref name="endPoint"/> into <paramref name="destination"/>.</summary>
    /// <returns>The address length to pass to <c>connect</c>, and the socket domain.</returns>
    internal static (int Length, int Domain) Write(IPEndPoint endPoint, Span<byte> destination)
    {
        IPAddress address = endPoint.Address;
        destination[..MaxSize].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)endPoint.Port);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            MemoryMarshal.Write(destination, (ushort)Libc.AF_INET); // sa_family is in host order
            address.TryWriteBytes(destination.Slice(4, 4), out _);
            return (16, Libc.AF_INET);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            // ::ffff:a.b.c.d is checked as a.b.c.d over IPv4: its last four bytes, copied in place.
            Span<byte> mapped = stackalloc byte[16];
            address.TryWriteBytes(mapped, out _);
            MemoryMarshal.Write(destination, (ushort)Libc.AF_INET);
            mapped[12..].CopyTo(destination.Slice(4, 4));
            return (16, Libc.AF_INET);
        }

        MemoryMarshal.Write(destination, (ushort)Libc.AF_INET6);
        address.TryWriteBytes(destination.Slice(8, 16), out _);
        MemoryMarshal.Write(destination[24..], (uint)address.ScopeId);
        return (28, Libc.AF_INET6);
    }
}
