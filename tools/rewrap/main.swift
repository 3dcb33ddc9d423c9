// peerwatch-rewrap: a capture's packets as a tap of another kind would deliver them.
//
//   peerwatch-rewrap [--profile NAME]... INPUT OUTPUT_DIR
//
// Each frame's IP packet (any link type PeerWatch reads) is wrapped in a carrier profile
// (VLAN, QinQ, PPPoE, MPLS, an MPLS Ethernet pseudowire, GRE, ERSPAN I/II/III, VXLAN, Geneve,
// GTP-U, IP in IP, and a deep stack of several) and written as Ethernet to
// OUTPUT_DIR/<input name>.<profile>.pcap. Packets from the higher inner address to the lower
// go through the tunnel's other direction (outer endpoints swapped, GTP-U's other TEID). Frames
// that hold no IP packet are left out. `peerwatch read` on each output must find what it finds
// on the input; the carrier conformance test checks exactly that on the corpus.
import Foundation
import PeerWatchRuntime
import PeerWatchTestSupport

var arguments = Array(CommandLine.arguments.dropFirst())
var names: [String] = []
while arguments.first == "--profile", arguments.count >= 2 {
    names.append(arguments[1])
    arguments.removeFirst(2)
}
guard arguments.count == 2 else {
    let known = CarrierProfile.all.map(\.name).joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: peerwatch-rewrap [--profile NAME]... INPUT OUTPUT_DIR\nprofiles: \(known)\n".utf8))
    exit(2)
}
let profiles = names.isEmpty ? CarrierProfile.all : CarrierProfile.all.filter { names.contains($0.name) }
if let unknown = names.first(where: { name in !CarrierProfile.all.contains { $0.name == name } }) {
    FileHandle.standardError.write(Data("peerwatch-rewrap: unknown profile \(unknown)\n".utf8))
    exit(2)
}
let input = arguments[0], directory = arguments[1]
do {
    let (link, frames) = try CaptureFileFrames.read(input)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let base = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
    for profile in profiles {
        let wrapped = frames.compactMap { frame in
            CarrierBuilder.rewrap(frame.bytes, link: link, in: profile).map { Frame(bytes: $0, timestamp: frame.timestamp) }
        }
        let path = "\(directory)/\(base).\(profile.name).pcap"
        try PcapFileWriter.write(PcapFileWriter.pcap(wrapped), to: path)
        print("\(path): \(wrapped.count) of \(frames.count) frames")
    }
} catch {
    FileHandle.standardError.write(Data("peerwatch-rewrap: \(error)\n".utf8))
    exit(1)
}
