// Network namespaces named by a path: an nsfs bind mount (like `ip netns add`
// makes under /run/netns) or /proc/<pid>/ns/net. The network helper keeps its
// own namespace this way, creates sockets in a namespace other than its own,
// and runs `ip -batch -` / `iptables-restore` in it.
//
// Threads: setns(CLONE_NEWNET) changes the namespace of the calling THREAD
// only, never the whole process, and a new thread starts in the namespace of
// the thread that created it. Every function here leaves the calling thread
// in the namespace it was in, so all of them may be called from any thread.
// All need CAP_SYS_ADMIN (root).
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"

namespace arca::net {

// An O_RDONLY|O_CLOEXEC descriptor of the namespace file at `path` (an nsfs
// mount or /proc/<pid>/ns/net). The caller owns it.
StatusOr<int> openNetns(const std::string& path);

// Creates a new network namespace with loopback up and keeps it alive by
// bind-mounting it onto `path` (the file is created; its directory must
// exist). No process stays in the namespace: it lives as long as the mount
// (or any socket or descriptor made in it). Idempotent: when `path` already
// is a namespace mount it is left as is. The mount is made in the caller's
// mount namespace.
Status createNetns(const std::string& path);

// Detaches the mount at `path` (MNT_DETACH) and removes the file. The
// namespace goes away once nothing else (sockets, processes, descriptors)
// holds it. Idempotent: a missing path or a file that is no mount is fine.
Status removeNetns(const std::string& path);

// socket(domain, type | SOCK_CLOEXEC, protocol) created inside the namespace
// `netns_fd`. The socket belongs to that namespace for its whole life (bind,
// connect and routing happen there) whichever thread uses it afterwards. The
// calling thread enters the namespace for the socket() call only and returns
// to its own on every path (if returning fails the thread would be left in
// the wrong namespace: that aborts the process). The caller owns the fd.
StatusOr<int> socketInNetns(int netns_fd, int domain, int type, int protocol);

// Runs `argv` (argv[0] looked up in PATH unless it contains a '/') in the
// namespace `netns_fd` (< 0: the caller's namespace), feeding `stdin_data` to
// its standard input and collecting its stdout and stderr, interleaved, into
// `*output` (may be null). Returns the program's exit status, 128+N when it
// was killed by signal N, or -1 when it could not be started at all (not
// found, fork/setns/exec failed), with the reason in `*output`. Blocks until
// the program exits and its output is closed. Safe in a multithreaded
// process: the child makes only async-signal-safe calls between fork and exec.
int runInNetns(int netns_fd, const std::vector<std::string>& argv, const std::string& stdin_data,
               std::string* output);

}  // namespace arca::net
