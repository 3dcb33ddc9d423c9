extension Gnutella {
    /// Gnutella and G2 file transfers are HTTP: a request names the file by URN
    /// (`GET /uri-res/N2R?urn:sha1:...`, a THEX request `/gnutella/thex/v1?urn:tree:tiger/:...`),
    /// and the response names what it serves (`X-Content-URN`, `X-Gnutella-Content-URN`,
    /// `X-Thex-URI`). The HTTP family frames them and hands the lines here.
    enum Transfer {
        /// A request line's URNs, if its target is a Gnutella resource path.
        /// - Returns: whether the target is a Gnutella transfer's (`/uri-res/`, `/gnutella/`,
        ///   `/get/`), whose request and response headers name the file.
        @discardableResult
        static func extract(requestLine line: UnsafeRawBufferPointer, context: inout DecodeContext) -> Bool {
            guard let space = ByteSearch.firstIndex(of: 0x20, in: line) else { return false }
            let afterMethod = UnsafeRawBufferPointer(rebasing: line[(space + 1)...])
            let end = ByteSearch.firstIndex(of: 0x20, in: afterMethod) ?? afterMethod.count
            let target = UnsafeRawBufferPointer(rebasing: afterMethod[0 ..< end])
            guard openingMatch(target, "/uri-res/", caseInsensitive: true) == .yes || openingMatch(target, "/gnutella/", caseInsensitive: true) == .yes
            else { return openingMatch(target, "/get/", caseInsensitive: true) == .yes }
            var ids = IDSet()
            URN.scan(target) { ids.insert($0) }
            ids.forEach { id in context.observe(Observation(.gnutella, .download, role: .seeking, contentID: id)) }
            if !ids.isEmpty { context.recognised(.gnutella) }
            return true
        }

        /// A request header block's URNs: a download by index or name (`GET /get/7/name`) names
        /// the file in `X-Gnutella-Content-URN` (or `X-Content-URN`).
        static func extract(requestHeaders block: UnsafeRawBufferPointer, context: inout DecodeContext) {
            var ids = IDSet()
            HTTPText.forEachLine(block) { line in
                if let value = HTTPText.headerValue(line, name: "x-gnutella-content-urn") ?? HTTPText.headerValue(line, name: "x-content-urn") {
                    URN.scan(value) { ids.insert($0) }
                }
                return true
            }
            ids.forEach { id in context.observe(Observation(.gnutella, .download, role: .seeking, contentID: id)) }
            if !ids.isEmpty { context.recognised(.gnutella) }
        }

        /// A response header block's URNs: a successful response moves the content, any other
        /// names it (a busy servent still says what it has).
        static func extract(responseHeaders block: UnsafeRawBufferPointer, status: Int, context: inout DecodeContext) {
            var ids = IDSet()
            var server: String?
            HTTPText.forEachLine(block) { line in
                if let value = HTTPText.headerValue(line, name: "x-content-urn") ?? HTTPText.headerValue(line, name: "x-gnutella-content-urn")
                    ?? HTTPText.headerValue(line, name: "x-thex-uri") {
                    URN.scan(value) { ids.insert($0) }
                } else if let value = HTTPText.headerValue(line, name: "server") {
                    server = String(wire: HTTPText.trim(value), limit: 128)
                }
                return true
            }
            guard !ids.isEmpty else { return }
            let role: Role = (200 ..< 300).contains(status) ? .transferring : .offering
            ids.forEach { id in context.observe(Observation(.gnutella, .contentURN, role: role, contentID: id, context: Context(client: server))) }
            context.recognised(.gnutella)
        }
    }
}
