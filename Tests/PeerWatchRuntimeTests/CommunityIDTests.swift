import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

@Suite struct CommunityIDTests {
    /// The reference vector of the Community ID specification (TCP, seed 0).
    @Test func matchesTheSpecificationVector() throws {
        let a = Endpoint(address: try #require(IPAddress("128.232.110.120")), port: 34_855)
        let b = Endpoint(address: try #require(IPAddress("66.35.250.204")), port: 80)
        #expect(CommunityID.v1(FlowKey(a, b, transport: .tcp)) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        #expect(CommunityID.v1(FlowKey(b, a, transport: .tcp)) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        // The same tuple over UDP, and an IPv6 flow, as the specification's reference
        // implementation computes them (SHA-1 over seed, ordered addresses, protocol, padding
        // and ports; worked out with Python's hashlib, apart from PeerWatch).
        #expect(CommunityID.v1(FlowKey(a, b, transport: .udp)) == "1:tHtj5b89ms4XrWRUtWPadGMkYIM=")
        let c = Endpoint(address: try #require(IPAddress("2001:db8:100::24")), port: 6_881)
        let d = Endpoint(address: try #require(IPAddress("2001:db8:200::7")), port: 60_111)
        #expect(CommunityID.v1(FlowKey(d, c, transport: .tcp)) == "1:3vU1lLFivXVLH+a+xwAsMgyzr/4=")
    }
}
