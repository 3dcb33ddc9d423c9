import ArgumentParser

/// The `peerwatch` command: a passive monitor that flags peer-to-peer transfers of watch-listed
/// content.
@main
struct PeerWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peerwatch",
        abstract: "Passive peer-to-peer traffic monitor: flags watch-listed content identifiers.",
        discussion: """
            PeerWatch reads packets from capture files or a live interface, recognises \
            BitTorrent peer-wire handshakes, and raises a JSON alert for every infohash that is \
            on a watch list. Flows that match nothing leave no record.
            """,
        version: "0.1.0",
        subcommands: [ReadCommand.self, RunCommand.self, VerifyCommand.self]
    )
}
