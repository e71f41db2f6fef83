import CMongoC
import Synchronization

/// Process-wide initialisation of libmongoc (`mongoc_init` and `mongoc_cleanup`).
///
/// libmongoc must be initialised once per process before any client exists. ``MongoClient``
/// does that itself through ``initialize()``, so most code never calls this type. A process that
/// wants a clean exit (for a leak checker, say) calls ``cleanUp()`` once at the very end.
public enum MongoLibrary {
    private enum State {
        case uninitialized
        case initialized
        case cleanedUp
    }

    // One lock for the process: mongoc_init and mongoc_cleanup must not race each other.
    private static let state = Mutex(State.uninitialized)

    /// Calls `mongoc_init` the first time; later calls do nothing. Thread-safe.
    ///
    /// - Throws: ``MongoError/Code-swift.struct/libraryCleanedUp`` after ``cleanUp()``, because
    ///   libmongoc cannot be initialised a second time in one process.
    public static func initialize() throws(MongoError) {
        let cleanedUp = state.withLock { state -> Bool in
            switch state {
            case .uninitialized:
                mongoc_init()
                state = .initialized
                return false
            case .initialized:
                return false
            case .cleanedUp:
                return true
            }
        }
        if cleanedUp {
            throw MongoError(code: .libraryCleanedUp, message: "libmongoc was cleaned up; no new client can be made")
        }
    }

    /// Calls `mongoc_cleanup`, releasing libmongoc's global state. Thread-safe; calls after the
    /// first do nothing.
    ///
    /// Optional: the operating system reclaims everything at exit anyway; without it a leak
    /// checker lists libmongoc's global tables as "still reachable". Call it only at the end of
    /// the process, after every ``MongoClient`` and ``MongoCollection`` has been released;
    /// creating a client afterwards throws.
    public static func cleanUp() {
        state.withLock { state in
            if case .initialized = state { mongoc_cleanup() }
            state = .cleanedUp
        }
    }
}
