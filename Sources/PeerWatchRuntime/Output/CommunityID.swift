import Crypto
import Foundation
import PeerWatchCore

/// The Community ID flow hash, version 1 (corelight/community-id-spec), as Suricata and Zeek
/// emit it, so that records join across tools.
enum CommunityID {
    /// `1:` and the base64 SHA-1 of seed, both addresses, protocol, a pad byte and both ports,
    /// lower endpoint first.
    static func v1(_ key: FlowKey, seed: UInt16 = 0) -> String {
        var input = [UInt8]()
        input.reserveCapacity(40)
        input.append(UInt8(seed >> 8))
        input.append(UInt8(seed & 0xFF))
        key.lowAddress.appendBytes(to: &input)
        key.highAddress.appendBytes(to: &input)
        input.append(key.transport.rawValue)
        input.append(0)
        for port in [key.lowPort, key.highPort] {
            input.append(UInt8(port >> 8))
            input.append(UInt8(port & 0xFF))
        }
        let digest = Insecure.SHA1.hash(data: input)
        return "1:" + Data(digest).base64EncodedString()
    }
}
