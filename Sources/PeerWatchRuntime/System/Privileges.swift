import CPrivileges
import Foundation

/// Giving up root: a daemon started as root becomes an unprivileged user and keeps only the
/// capabilities capture needs, so that no file is ever written as root.
public enum Privileges {
    /// CAP_NET_ADMIN (12) and CAP_NET_RAW (13): what reopening a capture after the interface
    /// comes back needs; the systemd unit grants the same two as ambient capabilities.
    public static let captureCapabilities: UInt64 = (1 << 12) | (1 << 13)

    /// Whether the process runs as root now.
    public static var isRoot: Bool { geteuid() == 0 }

    /// A user to become, looked up in the password database.
    public struct Account: Sendable, Equatable {
        public var name: String
        public var uid: uid_t
        public var gid: gid_t
    }

    /// Looks `name` up (a user name, or a numeric uid).
    public static func account(named name: String) throws(PrivilegeError) -> Account {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status: Int32
        if let uid = uid_t(name) {
            status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        } else {
            status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        }
        guard status == 0, result != nil, let userName = entry.pw_name.map({ String(cString: $0) }) else {
            throw PrivilegeError(message: "no such user: \(name)")
        }
        return Account(name: userName, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// Becomes `account` for good (real, effective and saved ids; its primary group and the
    /// groups it is a member of), keeping `capabilities` and nothing else. Must be called as root.
    public static func become(_ account: Account, keeping capabilities: UInt64 = captureCapabilities) throws(PrivilegeError) {
        let step = pw_drop_privileges(account.name, account.uid, account.gid, capabilities)
        guard step == Int32(PW_DROP_OK.rawValue) else {
            let reason = String(cString: strerror(errno))
            let what: String
            switch UInt32(step) {
            case PW_DROP_BOUNDING.rawValue: what = "dropping capabilities from the bounding set"
            case PW_DROP_KEEPCAPS.rawValue: what = "keeping capabilities across the user change"
            case PW_DROP_GROUPS.rawValue: what = "setting the supplementary groups"
            case PW_DROP_GID.rawValue: what = "becoming group \(account.gid)"
            case PW_DROP_UID.rawValue: what = "becoming user \(account.uid)"
            case PW_DROP_CAPSET.rawValue: what = "setting the kept capabilities"
            case PW_DROP_AMBIENT.rawValue: what = "clearing ambient capabilities"
            default: what = "forbidding new privileges"
            }
            throw PrivilegeError(message: "could not become \(account.name): \(what): \(reason)")
        }
    }
}

/// Why privileges could not be given up.
public struct PrivilegeError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}
