// Linux capabilities by name, as Docker handles them (CapAdd, CapDrop,
// Privileged): the known set, the set this process holds, normalization and
// the container's resulting set. Pure except currentCapabilities().
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"

namespace arca::runtime {

// Every capability the kernel headers name, in bit order (CAP_CHOWN = 0 ...).
const std::vector<std::string>& knownCapabilities();

// The capabilities in this process's effective set (CapEff in
// /proc/self/status), in bit order: what a privileged container gets.
std::vector<std::string> currentCapabilities();

// Upper-cases, adds the CAP_ prefix, keeps "ALL"; InvalidArgument with
// Docker's text for unknown names ("unknown capability: \"CAP_NOPE\"") or
// ones `available` lacks ("capability not supported by your kernel or not
// available in the current environment: \"CAP_X\"").
StatusOr<std::vector<std::string>> normalizeCapabilities(const std::vector<std::string>& caps,
                                                         const std::vector<std::string>& available);

// The container's capability set: all of `available` when privileged, else
// `defaults` with normalized `drop` removed and `add` appended ("ALL" in add:
// everything available but drop; "ALL" in drop: only add).
std::vector<std::string> containerCapabilities(const std::vector<std::string>& defaults,
                                               const std::vector<std::string>& add,
                                               const std::vector<std::string>& drop,
                                               bool privileged,
                                               const std::vector<std::string>& available);

}  // namespace arca::runtime
