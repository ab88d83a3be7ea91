// Host device nodes for --device and --privileged (what runc creates in the
// container's /dev), read with stat(2) on the host.
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"
#include "runtime/namespace/oci_config.h"

namespace arca::runtime {

// --device host[:container[:perms]]: the device at `host` (or every device
// below it when it is a directory) as linux.devices entries at `container`,
// plus their cgroup allow rules with `perms`. Docker's error text when
// `host` is missing ("error gathering device information while adding
// custom device \"/dev/x\": no such file or directory").
Status devicesFromPath(const std::string& host, const std::string& container,
                       const std::string& perms, std::vector<OciDevice>* devices,
                       std::vector<OciDeviceRule>* rules);

// Every device node under /dev (minus pts, shm, mqueue, fd and console), for
// privileged containers.
std::vector<OciDevice> hostDevices();

}  // namespace arca::runtime
