#include "api/container_config.h"

#include <gtest/gtest.h>

namespace arca::api {
namespace {

TEST(ParseCreate, DockerCliBody) {
  // Shape of what docker CLI 28 sends for `docker run --network none busybox echo hi`.
  std::string body = R"({"Hostname":"","Domainname":"","User":"","AttachStdin":false,
    "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,
    "Env":["A=1"],"Cmd":["echo","hi"],"Image":"busybox","Volumes":{},"WorkingDir":"",
    "Entrypoint":null,"OnBuild":null,"Labels":{"k":"v"},"StopTimeout":5,
    "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
    "NetworkMode":"none","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
    "AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[40,120],
    "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
    "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,
    "PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
    "SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,
    "Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"Devices":[],"PidsLimit":null,
    "Ulimits":[],"Mounts":null,"Init":null},
    "NetworkingConfig":{"EndpointsConfig":{}},"Unknown":"ignored"})";
  auto c = parseCreateContainer(body);
  ASSERT_TRUE(c.ok()) << c.status().toString();
  EXPECT_EQ(c->config.image(), "busybox");
  ASSERT_EQ(c->config.cmd_size(), 2);
  EXPECT_TRUE(c->config.cmd_set());
  EXPECT_FALSE(c->config.entrypoint_set());
  EXPECT_EQ(c->config.labels().at("k"), "v");
  EXPECT_EQ(c->config.stop_timeout(), 5);
  EXPECT_TRUE(c->host_config.auto_remove());
  EXPECT_EQ(c->host_config.network_mode(), "none");
  EXPECT_EQ(c->host_config.console_size_size(), 2);
}

TEST(ParseCreate, RefusesWhatIsNotImplemented) {
  auto net = parseCreateContainer(R"({"Image":"busybox","HostConfig":{"NetworkMode":"default"}})");
  ASSERT_TRUE(net.ok()) << net.status().message();  // issue #5: the default bridge
  EXPECT_EQ(net->host_config.network_mode(), "bridge");
  auto tmpfs = parseCreateContainer(  // issue #6: mounts are taken
      R"({"Image":"busybox","HostConfig":{"NetworkMode":"none","Tmpfs":{"/t":""}}})");
  ASSERT_TRUE(tmpfs.ok()) << tmpfs.status().message();
  EXPECT_EQ(tmpfs->host_config.mounts(0).type(), "tmpfs");
  auto ipc = parseCreateContainer(
      R"({"Image":"busybox","HostConfig":{"NetworkMode":"none","IpcMode":"host"}})");
  EXPECT_NE(ipc.status().message().find("HostConfig.IpcMode"), std::string::npos);
  auto vols = parseCreateContainer(R"({"Image":"busybox","Volumes":{"/a/../b":{},"/b":{}}})");
  ASSERT_TRUE(vols.ok()) << vols.status().message();
  EXPECT_EQ(vols->config.volumes_size(), 1);
  EXPECT_EQ(vols->config.volumes(0), "/b");
  EXPECT_FALSE(parseCreateContainer(R"({"Image":"busybox","Volumes":{"rel":{}}})").ok());
  auto drv = parseCreateContainer(R"({"Image":"busybox","HostConfig":{"VolumeDriver":"nfs"}})");
  EXPECT_EQ(drv.status().message(), "plugin \"nfs\" not found");
  auto tty = parseCreateContainer(
      R"({"Image":"busybox","Tty":true,"OpenStdin":true,"StdinOnce":true,"HostConfig":{"NetworkMode":"none"}})");
  ASSERT_TRUE(tty.ok()) << tty.status().message();
  EXPECT_TRUE(tty->config.tty());
  EXPECT_TRUE(tty->config.stdin_once());
  EXPECT_FALSE(parseCreateContainer("{").ok());
  EXPECT_FALSE(parseCreateContainer("[]").ok());
  EXPECT_FALSE(parseCreateContainer(R"({"Image":5})").ok());
  EXPECT_FALSE(parseCreateContainer(R"({"HostConfig":{"NetworkMode":"none"}})").ok());  // no image
  auto rt = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"none","Runtime":"nope"}})");
  EXPECT_NE(rt.status().message().find("unknown or invalid runtime name: nope"), std::string::npos);
  // issue #8: the VM sandbox's name, and the namespace sandbox's aliases.
  for (const char* name : {"arca-vm", "runc", "crun", "io.containerd.runc.v2"}) {
    auto vm = parseCreateContainer(std::string(R"({"Image":"b","HostConfig":{"NetworkMode":"none","Runtime":")") +
                                   name + R"("}})");
    ASSERT_TRUE(vm.ok()) << name << ": " << vm.status().message();
    EXPECT_EQ(vm->host_config.runtime(), name);
  }
  // Unset stays unset here: the daemon's --default-runtime fills it at create.
  auto unset = parseCreateContainer(R"({"Image":"b","HostConfig":{"NetworkMode":"none"}})");
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->host_config.runtime(), "");
}

TEST(ParseCreate, Healthcheck) {
  auto ok = parseCreateContainer(
      R"({"Image":"b","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":2},
          "HostConfig":{"NetworkMode":"none"}})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->config.healthcheck().test_size(), 2);
  EXPECT_EQ(ok->config.healthcheck().interval_ns(), 1000000000);
  EXPECT_EQ(ok->config.healthcheck().retries(), 2);
  auto small = parseCreateContainer(
      R"({"Image":"b","Healthcheck":{"Test":["CMD","true"],"Interval":1000},"HostConfig":{"NetworkMode":"none"}})");
  EXPECT_EQ(small.status().message(), "Interval in Healthcheck cannot be less than 1ms");
  auto neg = parseCreateContainer(
      R"({"Image":"b","Healthcheck":{"Test":["CMD","true"],"Retries":-1},"HostConfig":{"NetworkMode":"none"}})");
  EXPECT_EQ(neg.status().message(), "Retries in Healthcheck cannot be negative");
  auto kind = parseCreateContainer(
      R"({"Image":"b","Healthcheck":{"Test":["BOGUS","x"]},"HostConfig":{"NetworkMode":"none"}})");
  EXPECT_EQ(kind.status().code(), Code::kInvalidArgument);
}

TEST(MergeImageConfig, Healthcheck) {
  std::string img = R"({"config":{"Healthcheck":{"Test":["CMD","img"],"Interval":5000000000,"Retries":4}}})";
  v1::ContainerConfig c;
  c.mutable_healthcheck()->set_interval_ns(2000000000);
  ASSERT_TRUE(mergeImageConfig(&c, img).ok());
  EXPECT_EQ(c.healthcheck().test(1), "img");
  EXPECT_EQ(c.healthcheck().interval_ns(), 2000000000);  // the container's wins
  EXPECT_EQ(c.healthcheck().retries(), 4);
  v1::ContainerConfig none;
  ASSERT_TRUE(mergeImageConfig(&none, R"({"config":{}})").ok());
  EXPECT_FALSE(none.has_healthcheck());
}

TEST(MergeImageConfig, DockerRules) {
  std::string img = R"({"config":{"Env":["PATH=/bin","A=img"],"Cmd":["sh"],
    "Entrypoint":["/entry"],"WorkingDir":"/w","User":"nobody","Labels":{"l":"img","m":"img"},
    "StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{}}}})";
  v1::ContainerConfig c;
  c.add_env("A=mine");
  (*c.mutable_labels())["l"] = "mine";
  ASSERT_TRUE(mergeImageConfig(&c, img).ok());
  ASSERT_EQ(c.env_size(), 2);
  EXPECT_EQ(c.env(0), "PATH=/bin");
  EXPECT_EQ(c.env(1), "A=mine");
  EXPECT_EQ(c.entrypoint(0), "/entry");
  EXPECT_EQ(c.cmd(0), "sh");  // no Cmd given: the image's
  EXPECT_EQ(c.working_dir(), "/w");
  EXPECT_EQ(c.user(), "nobody");
  EXPECT_EQ(c.labels().at("l"), "mine");
  EXPECT_EQ(c.labels().at("m"), "img");
  EXPECT_EQ(c.stop_signal(), "SIGQUIT");
  EXPECT_EQ(c.exposed_ports(0), "80/tcp");

  v1::ContainerConfig given_cmd;
  given_cmd.set_cmd_set(true);
  given_cmd.add_cmd("echo");
  ASSERT_TRUE(mergeImageConfig(&given_cmd, img).ok());
  EXPECT_EQ(given_cmd.entrypoint(0), "/entry");
  ASSERT_EQ(given_cmd.cmd_size(), 1);
  EXPECT_EQ(given_cmd.cmd(0), "echo");

  // An entrypoint given at create time drops the image's Cmd.
  v1::ContainerConfig given_ep;
  given_ep.set_entrypoint_set(true);
  given_ep.add_entrypoint("/other");
  ASSERT_TRUE(mergeImageConfig(&given_ep, img).ok());
  EXPECT_EQ(given_ep.cmd_size(), 0);
  EXPECT_EQ(given_ep.entrypoint(0), "/other");
  EXPECT_FALSE(mergeImageConfig(&given_ep, "not json").ok());
}

}  // namespace
}  // namespace arca::api
