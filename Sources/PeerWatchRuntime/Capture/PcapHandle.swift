import CPcap
import Foundation
import PeerWatchCore

/// A libpcap failure, with libpcap's own message.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for a person.
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// libpcap's counters for a live capture.
public struct CaptureStatistics: Sendable, Equatable {
    /// Packets the kernel received (`ps_recv`).
    public var received: UInt64 = 0
    /// Packets dropped because the buffer was full (`ps_drop`).
    public var droppedByKernel: UInt64 = 0
    /// Packets dropped by the interface or driver (`ps_ifdrop`).
    public var droppedByInterface: UInt64 = 0
    public init() {}
}

/// The outcome of asking a handle for its next packet.
enum NextPacket {
    /// A packet: borrowed bytes valid until the next call.
    case packet(UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp)
    /// A live capture's read timeout passed with no packet.
    case timeout
    /// The file has no more packets.
    case endOfFile
}

/// Owns one libpcap handle and closes it exactly once.
struct PcapHandle: ~Copyable {
    private let raw: OpaquePointer
    /// What the handle reads from, for messages.
    let name: String

    private init(raw: OpaquePointer, name: String) {
        self.raw = raw
        self.name = name
    }

    deinit { pcap_close(raw) }

    /// The text of a NUL-terminated libpcap error buffer.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens a pcap or pcapng file. The corresponding C function is `pcap_open_offline`.
    static func openFile(_ path: String) throws(CaptureError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let raw = pcap_open_offline(path, &errorBuffer) else {
            throw CaptureError("\(path): not a readable pcap or pcapng capture (\(Self.text(errorBuffer)))")
        }
        return PcapHandle(raw: raw, name: path)
    }

    /// Whether `path` names a regular file (not a FIFO, a pipe or `-`).
    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        guard path != "-", stat(path, &status) == 0 else { return false }
        return status.st_mode & S_IFMT == S_IFREG
    }

    /// Reads a pcap or pcapng stream from a descriptor, which the handle then owns. The
    /// corresponding C functions are `fdopen` and `pcap_fopen_offline`.
    static func openStream(descriptor: Int32, name: String) throws(CaptureError) -> PcapHandle {
        guard let file = fdopen(descriptor, "rb") else {
            close(descriptor)
            throw CaptureError("\(name): cannot read: \(String(cString: strerror(errno)))")
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let raw = pcap_fopen_offline(file, &errorBuffer) else {
            fclose(file)
            throw CaptureError("\(name): not a readable pcap or pcapng capture (\(Self.text(errorBuffer)))")
        }
        return PcapHandle(raw: raw, name: name)
    }

    /// Opens and activates a live capture. The corresponding C functions are `pcap_create`,
    /// `pcap_set_snaplen`, `pcap_set_promisc`, `pcap_set_immediate_mode`, `pcap_set_buffer_size`,
    /// `pcap_set_timeout` and `pcap_activate`.
    static func openLive(_ options: LiveCaptureOptions) throws(CaptureError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let raw = pcap_create(options.interface, &errorBuffer) else {
            throw CaptureError("\(options.interface): \(Self.text(errorBuffer))")
        }
        let handle = PcapHandle(raw: raw, name: options.interface)
        pcap_set_snaplen(raw, Int32(clamping: options.snapshotLength))
        pcap_set_promisc(raw, options.promiscuous ? 1 : 0)
        pcap_set_immediate_mode(raw, options.immediateMode ? 1 : 0)
        pcap_set_buffer_size(raw, Int32(clamping: options.bufferSize))
        pcap_set_timeout(raw, Int32(clamping: options.readTimeoutMilliseconds))
        let status = pcap_activate(raw)
        if status < 0 {
            let detail = status == PCAP_ERROR ? String(cString: pcap_geterr(raw)) : String(cString: pcap_statustostr(status))
            throw CaptureError("\(options.interface): cannot start capture: \(detail)")
        }
        if let filter = options.filter, !filter.isEmpty {
            try handle.setFilter(filter)
        }
        if let group = options.fanoutGroup {
            try handle.joinFanout(group: group)
        }
        // Non-blocking: the capture loop waits on the descriptor with poll, with its own timeout.
        guard pcap_setnonblock(raw, 1, &errorBuffer) == 0 else {
            throw CaptureError("\(options.interface): cannot make the capture non-blocking: \(Self.text(errorBuffer))")
        }
        return handle
    }

    /// Compiles and installs a BPF filter. The corresponding C functions are `pcap_compile`
    /// and `pcap_setfilter`.
    func setFilter(_ expression: String) throws(CaptureError) {
        var program = bpf_program()
        guard pcap_compile(raw, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError("\(name): bad BPF filter \"\(expression)\": \(String(cString: pcap_geterr(raw)))")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(raw, &program) == 0 else {
            throw CaptureError("\(name): cannot install BPF filter: \(String(cString: pcap_geterr(raw)))")
        }
    }

    /// Joins the handle's packet socket to a `PACKET_FANOUT` group that deals packets to its
    /// members by a classic BPF program (`fanoutProgram`): a symmetric hash of the IP addresses
    /// as the kernel sees them, so that both directions of a flow, every fragment of a datagram,
    /// and every flow inside one tunnel reach the same member (the kernel's own flow hash takes
    /// a tunnel's outer UDP ports, which differ between a VXLAN flow's two directions). IPv4
    /// fragments are reassembled before the program runs. The corresponding C function is
    /// `setsockopt` on `pcap_fileno`.
    func joinFanout(group: UInt16) throws(CaptureError) {
        // linux/if_packet.h: SOL_PACKET 263, PACKET_FANOUT 18, PACKET_FANOUT_DATA 22,
        // PACKET_FANOUT_CBPF 6, PACKET_FANOUT_FLAG_DEFRAG 0x8000.
        var argument = UInt32(group) | (UInt32(6 | 0x8000) << 16)
        guard setsockopt(pcap_fileno(raw), 263, 18, &argument, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            throw CaptureError("\(name): cannot join packet fanout group \(group): \(String(cString: strerror(errno)))")
        }
        var program = Self.fanoutProgram
        let status = program.withUnsafeMutableBufferPointer { instructions -> Int32 in
            var fprog = sock_fprog(len: UInt16(instructions.count), filter: instructions.baseAddress)
            return setsockopt(pcap_fileno(raw), 263, 22, &fprog, socklen_t(MemoryLayout<sock_fprog>.size))
        }
        guard status == 0 else {
            throw CaptureError("\(name): cannot set the packet fanout program of group \(group): \(String(cString: strerror(errno)))")
        }
    }

    /// The fan-out program: for IPv4 the two addresses, for IPv6 the eight words of both,
    /// XORed (so either order gives the same value), then multiplied and shifted to spread the
    /// bits; the kernel takes the result modulo the members. Loads go through `SKF_NET_OFF`, so
    /// they find the network header wherever the frame's link header ends. A frame the kernel
    /// does not see as IP (MPLS, a VLAN tag the interface did not strip) goes to the first member.
    static let fanoutProgram: [sock_filter] = {
        let net: UInt32 = 0xFFF0_0000  // SKF_NET_OFF
        func op(_ code: UInt16, _ k: UInt32 = 0, _ jt: UInt8 = 0, _ jf: UInt8 = 0) -> sock_filter { sock_filter(code: code, jt: jt, jf: jf, k: k) }
        let ldh: UInt16 = 0x28, ldw: UInt16 = 0x20, jeq: UInt16 = 0x15, tax: UInt16 = 0x07, xorX: UInt16 = 0xAC, ja: UInt16 = 0x05
        var program = [
            op(ldh, 0xFFFF_F000),            // 0: A = skb->protocol (SKF_AD_OFF + SKF_AD_PROTOCOL)
            op(jeq, 0x0800, 1, 0),           // 1: IPv4 → 3
            op(jeq, 0x86DD, 5, 28),          // 2: IPv6 → 8, else → 31
            op(ldw, net &+ 12), op(tax), op(ldw, net &+ 16), op(xorX),  // 3-6: source ^ destination
            op(ja, 24),                      // 7: → 32
            op(ldw, net &+ 8),               // 8
        ]
        for offset in stride(from: UInt32(12), through: 36, by: 4) { program += [op(tax), op(ldw, net &+ offset), op(xorX)] }  // 9-29
        program += [
            op(ja, 1),                       // 30: → 32
            op(0x00, 0),                     // 31: A = 0
            op(0x24, 0x9E37_79B1),           // 32: A *= golden ratio
            op(0x74, 16),                    // 33: A >>= 16
            op(0x16),                        // 34: return A
        ]
        return program
    }()

    /// Hands every packet that is ready now (at most `limit`) to `body`, straight from
    /// libpcap's ring: borrowed bytes valid only during the call. Returns how many it handed
    /// over (0: none ready on a non-blocking handle). The corresponding C function is
    /// `pcap_dispatch`.
    func dispatch(limit: Int32, _ body: (UnsafeRawBufferPointer, Int, Timestamp) -> Void) throws(CaptureError) -> Int {
        typealias Body = (UnsafeRawBufferPointer, Int, Timestamp) -> Void
        let status = withoutActuallyEscaping(body) { escapable -> Int32 in
            var context: Body = escapable
            return withUnsafeMutablePointer(to: &context) { pointer in
                pcap_dispatch(raw, limit, { user, header, data in
                    guard let user, let header, let data else { return }
                    let pkthdr = header.pointee
                    let bytes = UnsafeRawBufferPointer(start: data, count: Int(pkthdr.caplen))
                    let timestamp = Timestamp(seconds: Int64(pkthdr.ts.tv_sec), microseconds: Int64(pkthdr.ts.tv_usec))
                    UnsafeMutableRawPointer(user).assumingMemoryBound(to: Body.self).pointee(bytes, Int(pkthdr.len), timestamp)
                }, UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self))
            }
        }
        if status >= 0 { return Int(status) }
        if status == PCAP_ERROR_BREAK { return 0 }
        throw CaptureError("\(name): \(String(cString: pcap_geterr(raw)))")
    }

    /// The descriptor to wait on for packets. The corresponding C function is `pcap_get_selectable_fd`.
    var selectableDescriptor: Int32 { pcap_get_selectable_fd(raw) }

    /// The decoder for the handle's link type, or an error naming `source` and the type for
    /// one PeerWatch does not read (the one wording for files, pipes and interfaces).
    func linkType(of source: String) throws(CaptureError) -> LinkType {
        guard let link = LinkType(dlt: dataLinkType) else {
            throw CaptureError("\(source): link type \(dataLinkName) (\(dataLinkType)) is not supported; PeerWatch reads Ethernet, Linux SLL/SLL2, raw IP and BSD loopback captures")
        }
        return link
    }

    /// The data-link type. The corresponding C function is `pcap_datalink`.
    var dataLinkType: Int32 { pcap_datalink(raw) }

    /// libpcap's name for the data-link type. The corresponding C function is `pcap_datalink_val_to_name`.
    var dataLinkName: String {
        pcap_datalink_val_to_name(dataLinkType).map { String(cString: $0) } ?? "DLT \(dataLinkType)"
    }

    /// The next packet. The corresponding C function is `pcap_next_ex`.
    func next() throws(CaptureError) -> NextPacket {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let status = pcap_next_ex(raw, &header, &data)
        switch status {
        case 1:
            guard let header, let data else { return .timeout }
            let pkthdr = header.pointee
            let bytes = UnsafeRawBufferPointer(start: data, count: Int(pkthdr.caplen))
            let timestamp = Timestamp(seconds: Int64(pkthdr.ts.tv_sec), microseconds: Int64(pkthdr.ts.tv_usec))
            return .packet(bytes, wireLength: Int(pkthdr.len), timestamp: timestamp)
        case 0:
            // No packet ready (a non-blocking live handle) or the read timeout passed.
            return .timeout
        case PCAP_ERROR_BREAK:
            return .endOfFile
        default:
            throw CaptureError("\(name): \(String(cString: pcap_geterr(raw)))")
        }
    }

    /// libpcap's drop counters. The corresponding C function is `pcap_stats`.
    func statistics() -> CaptureStatistics? {
        var stats = pcap_stat()
        guard pcap_stats(raw, &stats) == 0 else { return nil }
        var result = CaptureStatistics()
        result.received = UInt64(stats.ps_recv)
        result.droppedByKernel = UInt64(stats.ps_drop)
        result.droppedByInterface = UInt64(stats.ps_ifdrop)
        return result
    }
}
