using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

/// <summary>The calls and structures of the raw SYN engine: raw sockets, batches of datagrams, socket filters.</summary>
internal static partial class Libc
{
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_RAW = 3;
    internal const int IPPROTO_ICMP = 1;
    internal const int IPPROTO_IPV6 = 41;
    internal const int IPPROTO_ICMPV6 = 58;
    internal const int SO_RCVBUF = 8;
    internal const int SO_SNDBUF = 7;
    internal const int SO_SNDBUFFORCE = 32;
    internal const int SO_RCVBUFFORCE = 33;
    internal const int SO_ATTACH_FILTER = 26;
    internal const int IPV6_CHECKSUM = 7;
    internal const int IPV6_V6ONLY = 26;
    internal const int ICMP6_FILTER = 1;
    internal const int MSG_DONTWAIT = 0x40;

    /// <summary><c>struct sock_filter</c>: one classic BPF instruction.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockFilter
    {
        internal ushort Code;
        internal byte JumpTrue;
        internal byte JumpFalse;
        internal uint K;
    }

    /// <summary><c>struct sock_fprog</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct SockFprog
    {
        internal ushort Length;
        internal SockFilter* Filter;
    }

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        internal void* Base;
        internal nuint Length;
    }

    /// <summary><c>struct mmsghdr</c> on 64-bit Linux (a <c>struct msghdr</c> and the bytes sent or received): 64 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MMsgHdr
    {
        internal void* Name;
        internal uint NameLength;
        internal IoVec* Iov;
        internal nuint IovLength;
        internal void* Control;
        internal nuint ControlLength;
        internal int Flags;

        // struct msghdr ends padded to 8 bytes (56 in all): msg_len follows at offset 56.
        private readonly int _padding;
        internal uint Length;
    }

    internal const int RLIMIT_NOFILE = 7;

    /// <summary><c>struct rlimit</c> on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        internal ulong Current;
        internal ulong Maximum;
    }

    [LibraryImport(LibraryName, EntryPoint = "getrlimit", SetLastError = true)]
    internal static unsafe partial int GetRLimit(int resource, RLimit* limit);

    [LibraryImport(LibraryName, EntryPoint = "bind", SetLastError = true)]
    internal static unsafe partial int Bind(int fd, byte* socketAddress, int socketAddressLength);

    [LibraryImport(LibraryName, EntryPoint = "getsockname", SetLastError = true)]
    internal static unsafe partial int GetSockName(int fd, byte* socketAddress, int* socketAddressLength);

    [LibraryImport(LibraryName, EntryPoint = "sendmmsg", SetLastError = true)]
    internal static unsafe partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport(LibraryName, EntryPoint = "recvmmsg", SetLastError = true)]
    internal static unsafe partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, Timespec* timeout);

    [LibraryImport(LibraryName, EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(int fd, void* buffer, nuint length, int flags);
}
