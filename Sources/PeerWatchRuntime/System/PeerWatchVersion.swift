/// PeerWatch's version, as `--version`, records and metrics give it.
public enum PeerWatchVersion {
    /// The release this build is.
    public static let current = "0.2.0"
}
