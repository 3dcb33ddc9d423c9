extension Gnutella {
    /// The Mojito DHT (LimeWire, gtk-gnutella): Gnutella-shaped datagrams (a 16-byte message id,
    /// function 0x44, a version, the length, little-endian, then an opcode and the sender's
    /// contact). Alternate locations of a file (`ALOC` values) are stored and looked up under
    /// the file's SHA-1; other value types (`PROX` push proxies, `LIME`) are keyed by node ids.
    enum Mojito {
        static let function: UInt8 = 0x44
        static let storeRequest: UInt8 = 0x03
        static let findValueRequest: UInt8 = 0x07
        /// Values read from one STORE.
        static let maxValues = 32
        static let alternateLocation: UInt32 = 0x414C_4F43   // "ALOC"

        /// Whether a datagram is a Mojito message: function 0x44, major version 0, and a length
        /// that is the rest of the datagram.
        static func recognise(_ payload: UnsafeRawBufferPointer) -> Bool {
            let reader = ByteReader(payload)
            guard payload.count >= 24, reader.peekByte(at: 16) == function, reader.peekByte(at: 17) == 0,
                  let length = reader.peekLittleEndianInteger(as: UInt32.self, at: 19) else { return false }
            return Int(length) == payload.count - 23
        }

        /// Reads a Mojito datagram; reports the file SHA-1 of an ALOC lookup or store.
        static func decode(_ payload: UnsafeRawBufferPointer, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            guard reader.skip(23), let opcode = reader.readByte(), skipContact(&reader, flags: true) else { return }
            switch opcode {
            case findValueRequest:
                guard let target = reader.readBytes(count: 20), let keys = reader.readByte(), reader.skip(Int(keys) * 20),
                      let type = reader.readInteger(as: UInt32.self) else { return }
                guard type == alternateLocation, let id = ContentID(kind: .sha1, bytes: target) else { return }
                context.observe(Observation(.gnutellaDHT, .dhtFindValue, role: .seeking, contentID: id))
            case storeRequest:
                guard let tokenLength = reader.readByte(), reader.skip(Int(tokenLength)), let count = reader.readByte() else { return }
                for _ in 0 ..< min(Int(count), maxValues) {
                    guard skipContact(&reader, flags: false), let key = reader.readBytes(count: 20), let type = reader.readInteger(as: UInt32.self),
                          reader.skip(2), let length = reader.readInteger(as: UInt16.self), reader.skip(Int(length)) else { return }
                    if type == alternateLocation, let id = ContentID(kind: .sha1, bytes: key) {
                        context.observe(Observation(.gnutellaDHT, .dhtStore, role: .offering, contentID: id))
                    }
                }
            default:
                break
            }
        }

        /// Skips a contact: vendor (4), version (2), node id (20), a socket address (length,
        /// address, port), and for the sender of a message its instance id, flags and extended
        /// header.
        private static func skipContact(_ reader: inout ByteReader, flags: Bool) -> Bool {
            guard reader.skip(26), let addressLength = reader.readByte(), addressLength == 4 || addressLength == 16,
                  reader.skip(Int(addressLength) + 2) else { return false }
            guard flags else { return true }
            guard reader.skip(2), let extended = reader.readInteger(as: UInt16.self) else { return false }
            return reader.skip(Int(extended))
        }
    }
}
