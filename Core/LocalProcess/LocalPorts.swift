import Glibc

/// TCP ports on the loopback interface.
public enum LocalPorts {
    /// A loopback TCP port that nothing listens on right now: the kernel's pick for port 0.
    ///
    /// Another process may take it before the caller binds it; good enough for starting a local
    /// child on a port of its own, not a reservation.
    public static func free() throws(LocalProcessError) -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LocalProcessError("cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, named == 0 else { throw LocalProcessError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
