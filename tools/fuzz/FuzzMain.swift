// Fuzzing of PeerWatch's decoders, two ways.
//
// Mutation runner (the default build):
//   tools/fuzz.sh [--runs N] [--seed S] [TARGET...]      (release, AddressSanitizer)
// Each target starts from valid messages built in code and feeds the decoder mutated copies:
// bit flips, interesting byte values (0, 0xFF, length-ish digits and separators), inserted,
// deleted and duplicated ranges, splices of two seeds and truncations. Every input is written
// to fuzz-crash-TARGET.bin before it runs, so a trap, an overflow or a memory error leaves the
// culprit on disk to replay with --replay FILE. The seed is random unless given, and printed.
//
// libFuzzer (coverage-guided; its own build, so that plain `swift build` is unaffected):
//   tools/fuzz.sh --libfuzzer [--time SECONDS] [--seed S] [TARGET...]
// Built with -sanitize=fuzzer,address -DLIBFUZZER -parse-as-library; the target is chosen by
// PEERWATCH_FUZZ_TARGET, and PEERWATCH_FUZZ_SEEDS names a directory to write its seeds into.
import Foundation
import PeerWatchCore
import PeerWatchTestSupport

#if LIBFUZZER
/// The target this process fuzzes, chosen once from the environment.
nonisolated(unsafe) private var chosen: Target?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["PEERWATCH_FUZZ_TARGET"] ?? ""
    guard let target = targets().first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("set PEERWATCH_FUZZ_TARGET to one of: \(targets().map(\.name).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    chosen = target
    if let directory = ProcessInfo.processInfo.environment["PEERWATCH_FUZZ_SEEDS"] {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, seed) in target.seeds.enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(index)", contents: Data(seed))
        }
    }
    return 0
}

/// libFuzzer's driver (LLVM 11 and later), run from this executable's own entry point: SwiftPM
/// names an executable's entry point after its target, and libFuzzer's `main` is not it.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("peerwatch_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = chosen else { return 0 }
    // Real messages are small; bounded inputs keep runs fast.
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: min(size, 8_192))) } ?? []
    target.run(input)
    return 0
}
#else
/// The mutation runner's entry point.
@main
enum FuzzRunner {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        let runs = Int(option("--runs") ?? "") ?? 1_000_000
        let seed = UInt64(option("--seed") ?? "") ?? UInt64.random(in: 1 ... UInt64.max)
        FileHandle.standardOutput.write(Data("seed \(seed) (replay the run with --seed \(seed))\n".utf8))
        let all = targets()
        let named = arguments.filter { !$0.hasPrefix("--") && Int($0) == nil && $0 != option("--replay") && $0 != option("--seed") }
        let selected = named.isEmpty ? all : all.filter { named.contains($0.name) }
        guard !selected.isEmpty else {
            FileHandle.standardError.write(Data("unknown target; targets: \(all.map(\.name).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        if let replay = option("--replay"), let data = FileManager.default.contents(atPath: replay) {
            for target in selected { target.run([UInt8](data)) }
            print("replayed \(replay) through \(selected.map(\.name).joined(separator: ", ")): no crash")
            exit(0)
        }
        for target in selected {
            var mutator = Mutator(random: SeededGenerator(seed: seed &+ UInt64(target.name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) })))
            let crashFile = "fuzz-crash-\(target.name).bin"
            let start = Date()
            for seedInput in target.seeds { target.run(seedInput) }
            var corpus = target.seeds
            // Every input goes to disk before it runs: whatever ends the process, the file holds it.
            let crashDescriptor = open(crashFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            for run in 0 ..< runs {
                let base = corpus[mutator.number(corpus.count)]
                let other = corpus[mutator.number(corpus.count)]
                // Real messages are small; bounded inputs keep a million runs to minutes.
                let input = Array(mutator.mutate(base, other: other).prefix(8_192))
                if crashDescriptor >= 0 {
                    _ = input.withUnsafeBytes { pwrite(crashDescriptor, $0.baseAddress, $0.count, 0) }
                    _ = ftruncate(crashDescriptor, off_t(input.count))
                }
                target.run(input)
                // Grow the corpus with some mutants, so that mutations stack.
                if run % 97 == 0, input.count <= 4_096 {
                    if corpus.count < 512 { corpus.append(input) } else { corpus[mutator.number(corpus.count)] = input }
                }
            }
            if crashDescriptor >= 0 { close(crashDescriptor) }
            try? FileManager.default.removeItem(atPath: crashFile)
            let line = "\(target.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(runs) inputs, no crash (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
#endif
