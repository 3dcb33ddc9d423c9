import ArgumentParser
import Crypto
import Foundation
import PeerWatchCore
import PeerWatchRuntime

/// `peerwatch watchlist`: check, describe, convert and sign watch lists.
struct WatchListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchlist",
        abstract: "Check, describe, convert and sign watch lists.",
        subcommands: [Check.self, Stats.self, FromTorrent.self, KeyGen.self, Sign.self]
    )

    /// `peerwatch watchlist check`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate watch lists; print each list's entries per kind and every problem.",
            discussion: "Exit status: 0 when every list loads, 1 when any line or file is refused."
        )

        @Argument(help: ArgumentHelp("Lists as [NAME=][FORMAT:]PATH.", valueName: "list"))
        var lists: [String]

        @Option(name: .customLong("watchlist-key"), help: ArgumentHelp("An Ed25519 public key the lists must be signed with.", valueName: "file"))
        var keys: [String] = []

        func run() throws {
            let trusted: TrustedKeys
            do { trusted = try TrustedKeys.load(paths: keys) } catch {
                print("peerwatch: \(error.description)")
                throw ExitCode.failure
            }
            var failed = false
            for text in lists {
                let spec = WatchListSpec(parsing: text)
                do {
                    let snapshot = try WatchListLoader.load([spec], keys: trusted)
                    let source = snapshot.sources[0]
                    let kinds = snapshot.loadedCounts[0].sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    print("\(spec.path): OK: list \"\(source.name)\", format \(source.format), \(kinds); \(snapshot.duplicates) duplicates; sha256 \(source.sha256)"
                        + (source.signer.map { "; signed by \($0)" } ?? ""))
                } catch {
                    failed = true
                    print("\(spec.path): REFUSED, \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"):")
                    for problem in error.problems { print("  \(problem.description)") }
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    /// `peerwatch watchlist stats`.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe the watch lists a running peerwatch holds.")

        @Option(name: .customLong("state-dir"), help: ArgumentHelp("The daemon's --state-dir.", valueName: "dir"))
        var stateDirectory: String = "/var/lib/peerwatch"

        @Flag(name: .customLong("json"), help: "Print the description as JSON.")
        var json = false

        func run() throws {
            let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent("watchlist.json").path
            guard let data = FileManager.default.contents(atPath: path),
                  let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                FileHandle.standardError.write(Data("peerwatch: \(path): no watch-list state (is peerwatch run using --state-dir \(stateDirectory)?)\n".utf8))
                throw ExitCode.failure
            }
            if json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let kinds = (state["kinds"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("generation \(state["generation"] ?? 0), loaded \(state["loaded_at"] ?? "?"): \(state["entries"] ?? 0) entries (\(kinds)), \(state["duplicates"] ?? 0) duplicates dropped, index \(state["index_bytes"] ?? 0) bytes")
            for list in state["lists"] as? [[String: Any]] ?? [] {
                let entries = (list["entries"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print("  \(list["name"] ?? "?"): \(list["format"] ?? "?") \(list["path"] ?? "?"), \(entries), sha256 \(list["sha256"] ?? "?")"
                    + ((list["signer"] as? String).map { ", signed by \($0)" } ?? ""))
            }
        }
    }

    /// `peerwatch watchlist from-torrent`.
    struct FromTorrent: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "from-torrent",
            abstract: "Print native watch-list entries (btih, btih-v2, optionally bt-piece) for .torrent files."
        )

        @Argument(help: ArgumentHelp(".torrent files.", valueName: "file"))
        var files: [String]

        @Flag(name: .customLong("pieces"), help: "Also print every piece hash as a bt-piece entry.")
        var pieces = false

        func run() throws {
            var failed = false
            for path in files {
                let spec = WatchListSpec(path: path, format: pieces ? .torrentPieces : .torrent)
                do {
                    let snapshot = try WatchListLoader.load([spec])
                    for kind in [ContentID.Kind.btih, .btihV2, .btPiece] {
                        for entry in snapshot.entries(of: kind).sorted(by: { $0.label ?? "" < $1.label ?? "" }) {
                            print("\(entry.id)" + (entry.label.map { " \($0)" } ?? ""))
                        }
                    }
                } catch {
                    failed = true
                    FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    /// `peerwatch watchlist keygen`.
    struct KeyGen: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "keygen", abstract: "Make an Ed25519 key pair for signing lists: NAME.key (private) and NAME.pub.")

        @Argument(help: ArgumentHelp("Path and name of the pair, without extension.", valueName: "name"))
        var name: String

        func run() throws {
            let key = Curve25519.Signing.PrivateKey()
            let privatePath = name + ".key"
            guard FileManager.default.createFile(atPath: privatePath, contents: Data(Hex.encode(Array(key.rawRepresentation)).utf8 + [0x0A]),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(privatePath)")
            }
            try Data((Hex.encode(Array(key.publicKey.rawRepresentation)) + "\n").utf8).write(to: URL(fileURLWithPath: name + ".pub"))
            print("wrote \(privatePath) (keep it secret) and \(name).pub (give it to the sensors)")
        }
    }

    /// `peerwatch watchlist sign`.
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a watch list file or torrent directory: writes PATH.sig (hex Ed25519 signature of its SHA-256).")

        @Option(name: .customLong("key"), help: ArgumentHelp("The private key made by keygen.", valueName: "file"))
        var key: String

        @Argument(help: ArgumentHelp("List files to sign.", valueName: "file"))
        var files: [String]

        func run() throws {
            guard let text = FileManager.default.contents(atPath: key).flatMap({ String(data: $0, encoding: .utf8) }),
                  let raw = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw ValidationError("\(key): not a private key made by 'peerwatch watchlist keygen'")
            }
            for path in files {
                let digest: String
                do {
                    digest = try WatchListLoader.digest(of: path)
                } catch {
                    throw ValidationError(error.description)
                }
                let signature = try privateKey.signature(for: TrustedKeys.signedMessage(sha256: digest))
                try Data((Hex.encode(Array(signature)) + "\n").utf8).write(to: URL(fileURLWithPath: path + ".sig"))
                print("signed \(path) -> \(path).sig")
            }
        }
    }
}
