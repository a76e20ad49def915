using HealthChecks.TcpShaker.Interop;
using System.Runtime.InteropServices;

namespace HealthChecks.TcpShaker.Engine.RawSyn;

/// <summary>
/// Native buffers for <c>sendmmsg</c> / <c>recvmmsg</c>: <see cref="Capacity"/> messages of one
/// buffer and one socket address each, laid out once and reused, so a batch costs no allocation.
/// Owned by the loop thread.
/// </summary>
internal sealed unsafe class PacketBatch : IDisposable
{
    /// <summary>The largest socket address (<c>sockaddr_in6</c>), rounded up.</summary>
    internal const int NameSize = 32;

    /// <summary>Control data of one message: an <c>IP_PKTINFO</c> message (<c>CMSG_SPACE(sizeof(struct in_pktinfo))</c>).</summary>
    internal const int ControlSize = 32;

    private const int IPPROTO_IP = 0;
    private const int IP_PKTINFO = 8;

    private readonly byte* _memory;
    private readonly byte* _controls;
    private readonly int _bufferSize;

    internal PacketBatch(int capacity, int bufferSize)
    {
        Capacity = capacity;
        _bufferSize = bufferSize;
        nuint bytes = (nuint)(capacity * (bufferSize + NameSize + ControlSize + sizeof(Libc.IoVec) + sizeof(Libc.MMsgHdr)));
        _memory = (byte*)NativeMemory.AllocZeroed(bytes);
        Buffers = _memory;
        Names = Buffers + (capacity * bufferSize);
        _controls = Names + (capacity * NameSize);
        IoVecs = (Libc.IoVec*)(_controls + (capacity * ControlSize));
        Messages = (Libc.MMsgHdr*)(IoVecs + capacity);
        Slots = new int[capacity];
        Generations = new uint[capacity];
        for (int i = 0; i < capacity; i++)
        {
            IoVecs[i].Base = Buffers + (i * bufferSize);
            IoVecs[i].Length = (nuint)bufferSize;
            Messages[i].Iov = &IoVecs[i];
            Messages[i].IovLength = 1;
            Messages[i].Name = Names + (i * NameSize);
            Messages[i].NameLength = NameSize;
        }
    }

    internal int Capacity { get; }

    /// <summary>Messages filled (sending) or received.</summary>
    internal int Count { get; set; }

    internal byte* Buffers { get; }

    internal byte* Names { get; }

    internal Libc.IoVec* IoVecs { get; }

    internal Libc.MMsgHdr* Messages { get; }

    /// <summary>The check each outgoing message belongs to (slot and generation), to report a send error to it.</summary>
    internal int[] Slots { get; }

    /// <inheritdoc cref="Slots"/>
    internal uint[] Generations { get; }

    internal Span<byte> Buffer(int index) => new(Buffers + (index * _bufferSize), _bufferSize);

    internal Span<byte> Name(int index) => new(Names + (index * NameSize), NameSize);

    /// <summary>Sets message <paramref name="index"/> to send <paramref name="length"/> bytes to a name of <paramref name="nameLength"/> bytes.</summary>
    internal void SetOutgoing(int index, int length, int nameLength)
    {
        IoVecs[index].Length = (nuint)length;
        Messages[index].NameLength = (uint)nameLength;
        Messages[index].Control = null;
        Messages[index].ControlLength = 0;
    }

    /// <summary>
    /// Sends message <paramref name="index"/> (set by <see cref="SetOutgoing"/>) from the local IPv4
    /// <paramref name="source"/> (a big-endian number) rather than the route's: an <c>IP_PKTINFO</c> whose
    /// <c>ipi_spec_dst</c> a raw socket takes as the source address.
    /// </summary>
    internal void SetSourceV4(int index, uint source)
    {
        byte* control = _controls + (index * ControlSize);
        new Span<byte>(control, ControlSize).Clear();
        *(nuint*)control = 16 + 12;              // cmsg_len: CMSG_LEN(sizeof(struct in_pktinfo))
        *(int*)(control + 8) = IPPROTO_IP;       // cmsg_level
        *(int*)(control + 12) = IP_PKTINFO;      // cmsg_type
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(new Span<byte>(control + 16 + 4, 4), source); // ipi_spec_dst
        Messages[index].Control = control;
        Messages[index].ControlLength = ControlSize;
    }

    /// <summary>Makes every message ready to receive again (the kernel shortens the lengths it fills).</summary>
    internal void ResetForReceive()
    {
        for (int i = 0; i < Capacity; i++)
        {
            Messages[i].NameLength = NameSize;
            Messages[i].Flags = 0;
        }
    }

    public void Dispose() => NativeMemory.Free(_memory);
}
