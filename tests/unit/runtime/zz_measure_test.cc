// TEMPORARY: measurement helper, deleted after use.
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <gtest/gtest.h>
#include "runtime/namespace/namespace_driver.h"
namespace fs = std::filesystem;
TEST(Measure, Agent) {
  if (!getenv("ARCA_MEASURE")) GTEST_SKIP();
  std::string root = "/tmp/arca-measure";
  fs::remove_all(root);
  fs::create_directories(root + "/rootfs/bin");
  fs::create_directories(root + "/rootfs/etc");
  fs::copy_file("/bin/busybox", root + "/rootfs/bin/busybox");
  fs::create_symlink("busybox", root + "/rootfs/bin/sh");
  fs::create_symlink("busybox", root + "/rootfs/bin/sleep");
  arca::runtime::NamespaceDriverOptions o;
  o.exec_root = root + "/run"; o.containers_dir = root + "/containers";
  o.agent_path = (fs::read_symlink("/proc/self/exe").parent_path() / "arca-agent").string();
  auto d = arca::runtime::NamespaceDriver::create(o);
  ASSERT_TRUE(d.ok());
  arca::runtime::SandboxSpec s;
  s.id = std::string(64, 'a');
  s.args = {"sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 1; done"};
  s.lower_dirs = {root + "/rootfs"};
  s.log_path = root + "/log.json";
  auto r = (*d)->start(s);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::cout << "bundle " << (*d)->bundleDir(s.id) << std::endl;
  sleep(atoi(getenv("ARCA_MEASURE")));
  ASSERT_TRUE((*d)->remove(s.id).ok());
}
