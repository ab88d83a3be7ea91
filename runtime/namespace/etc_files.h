// The container's /etc/resolv.conf and /etc/hosts with Docker's --dns,
// --dns-search, --dns-option and --add-host applied. Pure: no I/O.
#pragma once

#include <string>
#include <vector>

namespace arca::runtime {

// `base` is the resolv.conf the container gets without options (the host's,
// loopback nameservers removed). With any option given, the file is rebuilt
// as dockerd does: "search" (the given domains, else base's; "." alone means
// none), the nameservers (given, else base's), "options" (given, else base's).
std::string resolvConfWithOptions(const std::string& base, const std::vector<std::string>& dns,
                                  const std::vector<std::string>& search,
                                  const std::vector<std::string>& options);

// `base` followed by one "ip\tname" line per "name:ip" entry (IPv6 brackets
// dropped), in the order given.
std::string hostsWithExtra(const std::string& base, const std::vector<std::string>& extra_hosts);

}  // namespace arca::runtime
