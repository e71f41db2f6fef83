import Glibc

/// Runs a program to its end with `posix_spawn` and `waitpid`, standard input from /dev/null and
/// its output to files, and returns its exit status (128 + the signal when a signal ended it).
///
/// Foundation's `Process.waitUntilExit` is not used on purpose: after a server restart has left
/// zombie children around it can wait forever for a child that has exited. `waitpid` on the
/// child's own pid cannot.
///
/// - Parameters:
///   - argv: the program's path, then its arguments. The environment is ours.
///   - standardOutput: a file, created or truncated.
///   - standardError: another file, or nil for the same file as standard output.
/// - Throws: ``LocalProcessError`` when the program cannot be started or waited for.
public func spawnAndWait(_ argv: [String], standardOutput: String, standardError: String? = nil) throws -> Int32 {
    precondition(!argv.isEmpty, "spawnAndWait needs a program")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if let standardError {
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
    guard spawned == 0 else {
        throw LocalProcessError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else {
            throw LocalProcessError("cannot wait for \(argv[0]): \(String(cString: strerror(errno)))")
        }
    }
    // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}
