import Testing
@testable import PeerWatchCore

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::", "::"),
        ("::1", "::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("fe80::", "fe80::"),
    ])
    func parsesAndFormatsRFC5952(input: String, expected: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.description == expected)
        #expect(IPAddress(expected) == address)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.256", "1.2.3.4.5", "a.b.c.d", "2001:db8::1::2", "1:2:3:4:5:6:7:8:9", "12345::", ":::", "1.2.3.-1"])
    func rejectsBadText(_ input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func familiesDifferEvenWithEqualBits() {
        #expect(IPAddress("0.0.0.1") != IPAddress("::1"))
    }

    @Test func networksContainTheirAddresses() throws {
        let v4 = try #require(IPNetwork("198.51.100.0/24"))
        #expect(v4.contains(try #require(IPAddress("198.51.100.200"))))
        #expect(!v4.contains(try #require(IPAddress("198.51.101.1"))))
        let v6 = try #require(IPNetwork("2001:db8:100::/48"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:100:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:101::1"))))
        #expect(!v6.contains(try #require(IPAddress("198.51.100.1"))))
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("10.1.2.3/8")?.description == "10.0.0.0/8")
        #expect(IPNetwork("0.0.0.0/0")?.contains(try #require(IPAddress("203.0.113.1"))) == true)
    }
}
