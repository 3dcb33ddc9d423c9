import Foundation
import Testing

@Suite struct CommandTests {
    @Test func topLevelHelpListsTheCommands() throws {
        let result = try CommandRunner.peerwatch(["--help"])
        #expect(result.status == 0)
        #expect(result.standardOutput == """
            OVERVIEW: Passive peer-to-peer traffic monitor: flags watch-listed content
            identifiers.

            PeerWatch reads packets from capture files or a live interface, recognises the
            BitTorrent family (peer wire over TCP and uTP, metadata exchange, DHT,
            trackers, local discovery, .torrent files and magnet links over HTTP) and
            raises a JSON alert for every content identifier on a watch list. Flows that
            match nothing leave no record.

            USAGE: peerwatch <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              read                    Read pcap or pcapng files and print alert records as
                                      JSON lines.
              run                     Capture live from an interface and write alert
                                      records to the log.
              tail                    Follow a running peerwatch's alerts from its socket,
                                      as aligned lines or raw JSON.
              status                  Show a running peerwatch's counters: traffic, drops,
                                      flows, alerts, watch lists.
              verify                  Check alert logs as one chain: no record removed,
                                      reordered, altered or added.
              watchlist               Check, describe, convert and sign watch lists.

              See 'peerwatch help <subcommand>' for detailed help.

            """)
    }

    @Test func readHelpIsExact() throws {
        let result = try CommandRunner.peerwatch(["read", "--help"])
        #expect(result.status == 0)
        #expect(result.standardOutput == """
            OVERVIEW: Read pcap or pcapng files and print alert records as JSON lines.

            Files are read one after another as one capture: regular files, FIFOs, pipes,
            or - for standard input. Every record goes to standard output (and to --log if
            given); diagnostics go to standard error. SIGINT or SIGTERM stops the reading
            within a second; the records so far are written and the log is closed. Exit
            status: 0 when every file was read to its end, 1 when a file or watch list
            could not be read, 130 when SIGINT and 143 when SIGTERM stopped it early.

            USAGE: peerwatch read [<options>] <file> ...

            ARGUMENTS:
              <file>                  Capture files (pcap or pcapng), FIFOs, or - for
                                      standard input.

            OPTIONS:
              --watchlist <list>      A watch list as [NAME=][FORMAT:]PATH; repeat for
                                      several. Formats: native, csv, magnet, ed2k, torrent,
                                      torrent+pieces, vics, md5, sha1.
              --watchlist-key <file>  An Ed25519 public key lists must be signed with
                                      (PATH.sig); repeat for several.
              --log <file>            Append alert records to this file (JSON lines,
                                      chained).
              --home-net <cidr>       A subscriber address block, such as 192.0.2.0/24;
                                      repeat for several.
              --sensor <name>         The sensor name written in records (default: the host
                                      name).
              --max-flows <count>     The most flows tracked at once, shared among the
                                      workers (default 1048576).
              --threads <count>       Worker threads, each keeping its share of the flows
                                      (default: the number of cores).
              --flow-timeout <kind=seconds>
                                      Idle seconds before a flow ends, as KIND=SECONDS for
                                      tcp (600), tcp_closed (30, after FIN or RST) or udp
                                      (120); repeat for several.
              --vxlan-port <port>     A UDP port VXLAN arrives on (default 4789); repeat
                                      for several, up to four.
              --geneve-port <port>    A UDP port Geneve arrives on (default 6081); repeat
                                      for several, up to four.
              --gtpu-port <port>      A UDP port GTP-U arrives on (default 2152); repeat
                                      for several, up to four.
              --no-vlan-tracking      Track flows by their addresses and ports alone, not
                                      by VLAN id too (for taps whose two directions arrive
                                      on different VLANs).
              --log-level <level>     Diagnostics on standard error: trace, debug, info
                                      (the default), notice, warning, error, critical.
              --state-dir <dir>       Keep the alert chain's head here, as run does, so
                                      that --log's chain goes on across runs even when the
                                      log is rotated away.
              --quiet                 Do not print records on standard output (use with
                                      --log).
              --version               Show the version.
              -h, --help              Show help information.


            """)
    }

    @Test func runHelpNamesTheCaptureOptions() throws {
        let result = try CommandRunner.peerwatch(["run", "--help"])
        #expect(result.status == 0)
        for option in ["--interface <name>", "--bpf <filter>", "--snaplen <bytes>", "--buffer-size <mib>", "--no-promiscuous", "--log <file>"] {
            #expect(result.standardOutput.contains(option), "\(option)")
        }
    }

    /// The README's first command: the demo capture against the demo watch list.
    @Test func readsTheBundledSeeds() throws {
        let result = try CommandRunner.peerwatch(["read", "seeds/demo.pcap", "--watchlist", "seeds/demo-watchlist.txt",
                                                  "--home-net", "198.51.100.0/24", "--home-net", "2001:db8:100::/48", "--sensor", "demo"])
        #expect(result.status == 0, "\(result.standardError)")
        let all = try records(result.standardOutput)
        let matches = all.filter { $0["event_type"] as? String == "match" }
        let ends = all.filter { $0["event_type"] as? String == "flow_end" }
        #expect(matches.count == 10)
        #expect(ends.count == 10)
        let labels = matches.compactMap { ($0["watchlist"] as? [String: Any])?["label"] as? String }
        #expect(labels == ["demo series A", "demo series B", "demo series C", "demo series A", "demo series B", "demo series C",
                           "demo series A", "demo series D", "demo series B", "demo series C"])
        let messages = matches.compactMap { ($0["p2p"] as? [String: Any])?["message"] as? String }
        #expect(messages == ["handshake", "handshake", "handshake", "handshake", "dht.get_peers", "handshake",
                             "tracker.announce", "http.torrent", "http.magnet", "lsd"])
        let protocols = matches.compactMap { ($0["p2p"] as? [String: Any])?["protocol"] as? String }
        #expect(protocols == ["bittorrent", "bittorrent", "bittorrent", "bittorrent", "bittorrent-dht", "utp",
                              "bittorrent-tracker", "http", "http", "bittorrent-lsd"])
        let roles = matches.compactMap { ($0["p2p"] as? [String: Any])?["role"] as? String }
        #expect(roles == ["seeking", "seeking", "seeking", "seeking", "seeking", "seeking", "offering", "seeking", "seeking", "seeking"])
        let sources = matches.compactMap { $0["src_ip"] as? String }
        #expect(sources == ["198.51.100.23", "198.51.100.24", "2001:db8:200::7", "198.51.100.25", "198.51.100.31", "198.51.100.32",
                            "198.51.100.33", "203.0.113.204", "203.0.113.204", "198.51.100.36"])
        let subscribers = matches.compactMap { $0["subscriber"] as? String }
        #expect(subscribers == ["src", "src", "dest", "src", "src", "src", "src", "dest", "dest", "src"])
        let torrent = (((matches[7]["p2p"] as? [String: Any])?["context"] as? [String: Any])?["torrent"] as? [String: Any])
        #expect(torrent?["name"] as? String == "demo series D.mkv")
        #expect(torrent?["size"] as? Int == 734_003_200)
        // log_open, 10 matches, 10 flow_ends, log_close.
        #expect(all.compactMap { ($0["chain"] as? [String: Any])?["seq"] as? Int } == Array(1 ... 22))
        #expect(all.first?["event_type"] as? String == "log_open")
        #expect(all.last?["event_type"] as? String == "log_close")
        #expect(result.standardError.contains("alerts=10"))
    }

    @Test func verifyAcceptsAWholeLogAndFindsATamperedOne() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("alerts.json").path
        let read = try CommandRunner.peerwatch(["read", "seeds/demo.pcap", "--watchlist", "seeds/demo-watchlist.txt", "--log", log, "--quiet"])
        #expect(read.status == 0)
        #expect(read.standardOutput.isEmpty)
        let good = try CommandRunner.peerwatch(["verify", log])
        #expect(good.status == 0)
        #expect(good.standardOutput == "\(log): 22 records (seq 1 to 22), closed\nOK: the chain is whole: 22 records in 1 file\n")
        var lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        lines.remove(at: 2)
        try lines.joined(separator: "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let bad = try CommandRunner.peerwatch(["verify", log])
        #expect(bad.status == 1)
        #expect(bad.standardOutput == """
            \(log): 21 records (seq 1 to 22), closed
            \(log):3: record 3 is missing before this one
            \(log):21: log_close counts 20 records since its log_open; the log holds 19
            BROKEN: 2 problems

            """)
    }

    @Test func aBadWatchListLineIsRefusedWithFileAndLine() throws {
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-bad-\(UUID().uuidString).txt").path
        try "# list\nbtih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126\nbtih:xyz\n".write(toFile: list, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: list) }
        let result = try CommandRunner.peerwatch(["read", "seeds/demo.pcap", "--watchlist", list])
        #expect(result.status == 1)
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError.contains("\(list):3: btih needs 40 hex digits, found \"xyz\""))
    }

    @Test func aFileThatIsNotACaptureExitsOneWithAMessage() throws {
        let result = try CommandRunner.peerwatch(["read", "seeds/demo-watchlist.txt", "--watchlist", "seeds/demo-watchlist.txt"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("peerwatch: seeds/demo-watchlist.txt: not a readable pcap or pcapng capture"))
    }

    @Test func usageErrorsExitSixtyFour() throws {
        let noList = try CommandRunner.peerwatch(["read", "seeds/demo.pcap"])
        #expect(noList.status == 64)
        #expect(noList.standardError.contains("Give at least one --watchlist file."))
        let badNet = try CommandRunner.peerwatch(["read", "seeds/demo.pcap", "--watchlist", "seeds/demo-watchlist.txt", "--home-net", "10.0.0.0/40"])
        #expect(badNet.status == 64)
        let noLog = try CommandRunner.peerwatch(["run", "--interface", "lo", "--watchlist", "seeds/demo-watchlist.txt"])
        #expect(noLog.status == 64)
        #expect(noLog.standardError.contains("Give --log FILE (or --socket PATH, or --stdout)"))
    }

    @Test func aMissingInterfaceIsAClearError() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-noif-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let result = try CommandRunner.peerwatch(["run", "--interface", "pw-no-such-if0", "--watchlist", "seeds/demo-watchlist.txt", "--log", log])
        #expect(result.status == 1)
        #expect(result.standardError.contains("pw-no-such-if0"))
    }
}

@Suite struct RunConfigurationTests {
    @Test func aBadConfigurationIsRefusedWithFileAndLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-\(UUID().uuidString).yaml").path
        try "sensor: edge-1\ncapture:\n  interface: lo\n  snaplen: 5\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CommandRunner.peerwatch(["run", "--config", path])
        #expect(result.status == 1)
        #expect(result.standardError.contains("peerwatch: configuration refused: \(path):4: capture.snaplen must be a whole number from 64 to 262144, not \"5\""))
        let noInterface = try CommandRunner.peerwatch(["run", "--watchlist", "seeds/demo-watchlist.txt", "--log", "/dev/null"])
        #expect(noInterface.status == 64)
        #expect(noInterface.standardError.contains("Give --interface"))
    }

    @Test func anUnknownUserIsRefusedBeforeAnythingIsOpened() throws {
        let result = try CommandRunner.peerwatch(["run", "--interface", "lo", "--user", "pw-no-such-user", "--metrics", "off",
                                                  "--watchlist", "seeds/demo-watchlist.txt", "--log", "/dev/null"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("peerwatch: no such user: pw-no-such-user"))
        #expect(!result.standardError.contains("capture started"))
    }
}
