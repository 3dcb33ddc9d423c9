import Crypto
import Foundation
import PeerWatchCore

/// Ed25519 public keys that watch lists must be signed with, when any are configured.
///
/// A list `PATH` is signed by a detached signature in `PATH.sig`: 64 bytes, raw or as hex or
/// base64 text, over `signedMessage(sha256:)` of the list's SHA-256. A key file holds 32 bytes, raw or as hex or base64 text; its file name (without
/// extension) names the signer in logs and alerts' list metadata.
public struct TrustedKeys: Sendable {
    struct Key: Sendable {
        let name: String
        let key: Curve25519.Signing.PublicKey
    }

    let keys: [Key]

    /// No keys: lists are not required to be signed.
    public static let none = TrustedKeys(keys: [])

    init(keys: [Key]) { self.keys = keys }

    /// Whether signatures are required.
    public var isEnabled: Bool { !keys.isEmpty }

    /// Reads key files.
    /// - Throws: `ConfigurationError` naming the file that is not a key.
    public static func load(paths: [String]) throws(ConfigurationError) -> TrustedKeys {
        var keys: [Key] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(code: .unreadable, file: path, line: nil, message: "cannot read the public key")
            }
            guard let raw = decodeBinary(data, length: 32), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                throw ConfigurationError(code: .malformedLine, file: path, line: nil, message: "not an Ed25519 public key (32 bytes, raw, hex or base64)")
            }
            keys.append(Key(name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension, key: key))
        }
        return TrustedKeys(keys: keys)
    }

    /// What a list's signature signs: its SHA-256 in hex behind a fixed prefix, so that a list
    /// of any size is verified from the digest computed while it streams by (Ed25519 cannot be
    /// computed over a stream), and a signature made for anything else never passes for one.
    public static func signedMessage(sha256: String) -> [UInt8] {
        Array("peerwatch-watchlist-sha256:\(sha256)".utf8)
    }

    /// The name of the key that signed the list whose SHA-256 is `sha256`, with the signature
    /// in `signaturePath`.
    func signer(ofSHA256 sha256: String, signaturePath: String) -> Result<String, ConfigurationError> {
        guard let signatureData = FileManager.default.contents(atPath: signaturePath) else {
            let reason = errno == ENOENT ? "no signature: lists must be signed with a configured key" : "cannot read the signature: \(String(cString: strerror(errno)))"
            return .failure(ConfigurationError(code: .unsigned, file: signaturePath, line: nil, message: reason))
        }
        guard let signature = Self.decodeBinary(signatureData, length: 64) else {
            return .failure(ConfigurationError(code: .badSignature, file: signaturePath, line: nil, message: "not an Ed25519 signature (64 bytes, raw, hex or base64)"))
        }
        let message = Self.signedMessage(sha256: sha256)
        for candidate in keys where candidate.key.isValidSignature(signature, for: message) {
            return .success(candidate.name)
        }
        return .failure(ConfigurationError(code: .badSignature, file: signaturePath, line: nil,
                                           message: "signature does not verify with any configured key; the list is refused"))
    }

    /// `length` bytes from raw bytes, or hex or base64 text (white space ignored).
    static func decodeBinary(_ data: Data, length: Int) -> Data? {
        if data.count == length { return data }
        guard let text = String(data: data, encoding: .utf8)?.filter({ !$0.isWhitespace }) else { return nil }
        if text.count == length * 2, let bytes = Hex.decode(text) { return Data(bytes) }
        if let decoded = Data(base64Encoded: text), decoded.count == length { return decoded }
        return nil
    }
}
