/// A pool of per-flow states of one type, indexed by `UInt32`: a flow holds an index, never the
/// state itself, so that a flow slot stays plain data and states exist only for the flows that
/// need them. Released entries are reset to `empty` (dropping any buffers they held) and reused.
struct Pool<Element> {
    private var elements: ContiguousArray<Element> = []
    private var free: [UInt32] = []
    private let empty: Element

    init(empty: Element) {
        self.empty = empty
    }

    /// Entries in use.
    private(set) var count = 0

    /// Takes an entry holding `element` and returns its index.
    mutating func allocate(_ element: Element) -> UInt32 {
        count += 1
        if let index = free.popLast() {
            elements[Int(index)] = element
            return index
        }
        elements.append(element)
        return UInt32(elements.count - 1)
    }

    /// Gives entry `index` back, returning what it held.
    @discardableResult
    mutating func release(_ index: UInt32) -> Element {
        var element = empty
        swap(&element, &elements[Int(index)])
        free.append(index)
        count -= 1
        return element
    }

    /// The entry at `index`, to read or change in place.
    subscript(index: UInt32) -> Element {
        get { elements[Int(index)] }
        _modify { yield &elements[Int(index)] }
    }

    /// Bytes the entries ever used take inline (buffers they own are not counted).
    var footprint: Int { elements.count * MemoryLayout<Element>.stride }
}
