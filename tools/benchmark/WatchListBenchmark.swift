import Foundation
import PeerWatchCore
import PeerWatchRuntime
import PeerWatchTestSupport

/// `peerwatch-benchmark watchlist [--entries N] [--formats native,md5,csv,vics] [--keep]`: writes a
/// list of N entries in each format as child-protection bodies hand them out, loads each in a
/// child process of its own, and prints load time, the finished index's resident size, the
/// peak during the load (VmHWM), and their ratio.
enum WatchListBenchmark {
    struct Result: Codable {
        var entries: Int
        var seconds: Double
        /// Resident bytes the loaded snapshot holds (RSS after the load, less before).
        var finished: Int
        /// Resident bytes at the load's peak, less before.
        var peak: Int
        var indexBytes: Int
        var labelBytes: Int
    }

    static let formats = ["native", "md5", "csv", "vics"]

    static func main(arguments: [String]) throws {
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        if let path = option("--load"), let format = option("--format") {
            let result = try load(path, format: format)
            FileHandle.standardOutput.write(try JSONEncoder().encode(result))
            return
        }
        let entries = Int(option("--entries") ?? "") ?? 10_000_000
        let chosen = option("--formats")?.split(separator: ",").map(String.init) ?? formats
        let directory = option("--directory") ?? FileManager.default.temporaryDirectory.path
        print("format   entries      file MB   load s   index MB   labels MB   finished MB   peak MB   peak/finished")
        for format in chosen {
            let path = "\(directory)/peerwatch-benchmark-list.\(format == "vics" ? "json" : format == "csv" ? "csv" : "txt")"
            try write(format: format, entries: entries, to: path)
            defer { if !arguments.contains("--keep") { try? FileManager.default.removeItem(atPath: path) } }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            process.arguments = ["watchlist", "--load", path, "--format", format]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let r = try JSONDecoder().decode(Result.self, from: data)
            print(String(format: "%-7@ %9d %12.1f %8.2f %10.1f %11.1f %13.1f %9.1f %15.2f", format as NSString, r.entries, Double(size) / 1e6, r.seconds,
                         Double(r.indexBytes) / 1e6, Double(r.labelBytes) / 1e6, Double(r.finished) / 1e6, Double(r.peak) / 1e6,
                         Double(r.peak) / Double(max(1, r.finished))))
        }
    }

    /// In a child process: loads the list and measures.
    static func load(_ path: String, format: String) throws -> Result {
        let before = memory(of: "VmRSS")
        let start = monotonicSeconds()
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: "\(format):\(path)")])
        let seconds = monotonicSeconds() - start
        let after = memory(of: "VmRSS"), peak = memory(of: "VmHWM")
        return Result(entries: snapshot.count, seconds: seconds, finished: after - before, peak: peak - before,
                      indexBytes: snapshot.indexBytes, labelBytes: snapshot.labelBytes)
    }

    /// A /proc/self/status figure, in bytes.
    static func memory(of field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
        }
        return 0
    }

    /// Writes `entries` entries of `format`: native btih lines with a label on one in a hundred;
    /// plain MD5 lines; CSV rows `kind,hash,label,category,source` (SHA-1, 2,000 series labels,
    /// three categories, IWF); a VICS export of media records with an MD5 and a SHA-1 each, a
    /// category and a unique MediaID, and the other fields such exports carry.
    static func write(format: String, entries: Int, to path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var random = SeededGenerator(seed: 0x1157)
        var buffer = [UInt8]()
        buffer.reserveCapacity(1 << 23)
        let digits = Array("0123456789abcdef".utf8)
        func hex(_ bytes: Int) {
            var left = bytes
            while left > 0 {
                let word = random.next()
                for index in 0 ..< min(8, left) {
                    let byte = UInt8(truncatingIfNeeded: word >> UInt64(index * 8))
                    buffer.append(digits[Int(byte >> 4)])
                    buffer.append(digits[Int(byte & 0xF)])
                }
                left -= 8
            }
        }
        func flush() {
            if buffer.count > 1 << 23 {
                file.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        switch format {
        case "native":
            for index in 0 ..< entries {
                buffer.append(contentsOf: "btih:".utf8)
                hex(20)
                if index % 100 == 0 { buffer.append(contentsOf: " series \(index % 997)".utf8) }
                buffer.append(0x0A)
                flush()
            }
        case "md5":
            for _ in 0 ..< entries {
                hex(16)
                buffer.append(0x0A)
                flush()
            }
        case "csv":
            buffer.append(contentsOf: "kind,hash,label,category,source\n".utf8)
            for index in 0 ..< entries {
                buffer.append(contentsOf: "sha1,".utf8)
                hex(20)
                buffer.append(contentsOf: ",\"series \(index % 2_000), part \(index % 7)\",\(1 + index % 3),IWF\n".utf8)
                flush()
            }
        case "vics":
            buffer.append(contentsOf: "{\"odata.metadata\":\"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/1.3.xml/CUSTOM/$metadata#Media\",\"value\":[\n".utf8)
            for record in 0 ..< (entries + 1) / 2 {
                if record > 0 { buffer.append(contentsOf: ",\n".utf8) }
                buffer.append(contentsOf: "{\"Category\":\(record % 4),\"MediaID\":\(record + 1),\"MD5\":\"".utf8)
                hex(16)
                buffer.append(contentsOf: "\",\"SHA1\":\"".utf8)
                hex(20)
                buffer.append(contentsOf: "\",\"MediaSize\":\(10_000 + record % 900_000),\"IsPrecategorized\":false,\"Tags\":[\"t\(record % 50)\"],\"MediaFiles\":[{\"FileName\":\"IMG_\(record).jpg\",\"FilePath\":\"\\\\evidence\\\\case\\\\\(record % 1_000)\"}]}".utf8)
                flush()
            }
            buffer.append(contentsOf: "\n]}\n".utf8)
        default:
            throw ValidationFailure("unknown format \(format)")
        }
        file.write(Data(buffer))
    }

    struct ValidationFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
