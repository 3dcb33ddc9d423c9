/// One direction of a stream that a family reads deflated (a Gnutella link after
/// `Content-Encoding: deflate`): its inflater, taken from the budget all flows share and given
/// back when the direction ends, and the per-direction cap on what it may produce.
struct DeflatedStream {
    private var inflater: Inflater?
    /// Bytes produced so far.
    private(set) var produced: Int64 = 0

    /// Whether the direction holds an inflater from the shared budget.
    var holdsInflater: Bool { inflater != nil }

    /// Inflates the next compressed bytes, handing what comes out to `output` until it says
    /// stop.
    /// - Returns: `.more`, or `.done` once the stream ended, `output` stopped, the caps or the
    ///   budget were reached or the data was bad (counted as anomalies); then the inflater is
    ///   given back.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, context: inout DecodeContext,
                       output: (UnsafeRawBufferPointer, inout DecodeContext) -> DecodeStatus) -> DecodeStatus {
        if inflater == nil {
            guard context.budgets.inflaters > 0, let made = Inflater(format: .zlib) else {
                context.budgets.note(.inflateOverBudget)
                return .done
            }
            context.budgets.inflaters -= 1
            inflater = made
        }
        guard let inflater else { return .done }
        var status = DecodeStatus.more
        let before = inflater.produced
        let limit = context.budgets.limits.maxInflatedPerDirection
        let outcome = inflater.inflate(bytes, limit: limit) { chunk in
            guard status == .more else { return }
            status = output(chunk, &context)
        }
        produced &+= Int64(inflater.produced - before)
        switch outcome {
        case .needsInput:
            break
        case .finished:
            if status == .more { status = .done }
        case .limitReached:
            context.budgets.note(.inflateOverLimit)
            status = .done
        case .malformed:
            context.budgets.note(.inflateMalformed)
            status = .done
        }
        if status != .more { end(budgets: &context.budgets) }
        return status
    }

    /// Gives the inflater back to the shared budget.
    mutating func end(budgets: inout SharedBudgets) {
        guard inflater != nil else { return }
        inflater = nil
        budgets.inflaters += 1
    }
}

extension DecodeContext {
    /// Inflates one whole zlib-compressed message (an eDonkey packed frame, a Kad packet, a G2
    /// datagram) with the engine's one reusable inflater, within the per-message cap, and calls
    /// `body` with the result. A message that is bad or would pass the cap is counted and not
    /// read.
    mutating func inflateMessage(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, inout DecodeContext) -> Void) {
        if messageInflater == nil { messageInflater = Inflater(format: .zlib) }
        guard let inflater = messageInflater else { return }
        inflater.reset()
        var output = scratch
        scratch = []
        output.removeAll(keepingCapacity: true)
        let outcome = inflater.inflate(bytes, limit: budgets.limits.maxInflatedPerMessage) { output.append(contentsOf: $0) }
        switch outcome {
        case .finished, .needsInput:
            // A message cut short of its end still yields what it held.
            output.withUnsafeBytes { body($0, &self) }
        case .limitReached:
            budgets.note(.inflateOverLimit)
        case .malformed:
            budgets.note(.inflateMalformed)
        }
        scratch = output
    }
}
