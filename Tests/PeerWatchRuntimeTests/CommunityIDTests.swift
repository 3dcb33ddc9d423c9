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
        #expect(CommunityID.v1(FlowKey(a, b, transport: .udp)) != "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    }
}
