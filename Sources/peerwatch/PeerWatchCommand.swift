import ArgumentParser
import PeerWatchRuntime

/// The `peerwatch` command: a passive monitor that flags peer-to-peer transfers of watch-listed
/// content.
@main
struct PeerWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peerwatch",
        abstract: "Passive peer-to-peer traffic monitor: flags watch-listed content identifiers.",
        discussion: """
            PeerWatch reads packets from capture files or a live interface, recognises the \
            BitTorrent family (peer wire over TCP and uTP, metadata exchange, DHT, trackers, \
            local discovery, .torrent files and magnet links over HTTP) and raises a JSON alert \
            for every content identifier on a watch list. Flows that match nothing leave no \
            record.
            """,
        version: PeerWatchVersion.current,
        subcommands: [ReadCommand.self, RunCommand.self, TailCommand.self, StatusCommand.self, VerifyCommand.self, WatchListCommand.self]
    )
}
