using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Interop;

internal static partial class Libc
{
    internal const int TCP_INFO = 11;

    /// <summary>
    /// The head of <c>struct tcp_info</c> (linux/tcp.h), as far as <c>tcpi_segs_out</c>: the kernel
    /// copies at most the length asked for, so a shorter prefix is fine on any kernel that has it.
    /// The layout is the same on every architecture (fixed-width fields, naturally aligned).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    internal struct TcpInfoHead
    {
        /// <summary>Milliseconds since the last ACK arrived: for a half-open check, the SYN-ACK.</summary>
        [FieldOffset(56)]
        internal uint LastAckReceivedMilliseconds;

        /// <summary>Segments retransmitted over the connection's life (SYN retransmits).</summary>
        [FieldOffset(100)]
        internal uint TotalRetransmits;

        /// <summary>Segments sent, retransmits included: the SYN and, if it leaked, the handshake ACK.</summary>
        [FieldOffset(136)]
        internal uint SegmentsOut;

        /// <summary>Bytes the kernel must copy for <see cref="SegmentsOut"/> to be present.</summary>
        internal const int RequiredLength = 140;
    }
}
