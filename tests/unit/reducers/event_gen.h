// Random *valid* event sequences for property tests: a tiny model of what
// exists decides which events may come next.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "eventlog/events.pb.h"

namespace arca::testing {

inline std::vector<v1::Envelope> randomEvents(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<uint32_t>(k)); };
  std::vector<std::string> images, containers, networks, volumes;
  std::vector<bool> running;
  std::vector<v1::Envelope> out;
  int64_t t = 1700000000000000000;
  int counter = 0;
  auto hex = [&](int i) {
    char b[65];
    snprintf(b, sizeof b, "%064x", i);
    return std::string(b);
  };
  while (static_cast<int>(out.size()) < n) {
    v1::Event e;
    int op = pick(14);
    ++counter;
    if (op == 0 || images.empty()) {
      auto* r = e.mutable_image_loaded()->mutable_image();
      r->set_id("sha256:" + hex(counter));
      r->add_repo_tags("docker.io/library/img" + std::to_string(pick(5)) + ":latest");
      r->set_config_json("{\"config\":{}}");
      r->add_diff_ids("sha256:" + hex(counter + 1000000));
      r->set_size(pick(100000));
      images.push_back(r->id());
    } else if (op == 1) {
      e.mutable_image_tagged()->set_id(images[pick(images.size())]);
      e.mutable_image_tagged()->set_ref("docker.io/library/t" + std::to_string(pick(6)) + ":v" +
                                        std::to_string(pick(3)));
    } else if (op == 2) {
      e.mutable_image_untagged()->set_id(images[pick(images.size())]);
      e.mutable_image_untagged()->set_ref("docker.io/library/t" + std::to_string(pick(6)) + ":v1");
    } else if (op == 3 && images.size() > 1) {
      int i = pick(images.size());
      e.mutable_image_deleted()->set_id(images[i]);
      images.erase(images.begin() + i);
    } else if (op <= 5) {
      auto* c = e.mutable_container_created();
      c->set_id(hex(counter));
      c->set_name("c" + std::to_string(counter));
      c->set_image_id(images[pick(images.size())]);
      c->mutable_config()->add_cmd("sh");
      (*c->mutable_config()->mutable_labels())["k" + std::to_string(pick(3))] = "v";
      c->set_path("sh");
      containers.push_back(c->id());
      running.push_back(false);
    } else if (containers.empty()) {
      continue;
    } else {
      int i = pick(containers.size());
      const std::string& id = containers[i];
      switch (op) {
        case 6:
          e.mutable_container_start_requested()->set_id(id);
          break;
        case 7:
          e.mutable_container_started()->set_id(id);
          e.mutable_container_started()->set_pid(1000 + pick(1000));
          running[i] = true;
          break;
        case 8:
          e.mutable_container_exited()->set_id(id);
          e.mutable_container_exited()->set_exit_code(pick(256));
          running[i] = false;
          break;
        case 9:
          e.mutable_container_signaled()->set_id(id);
          e.mutable_container_signaled()->set_signal(15);
          e.mutable_container_signaled()->set_request_seq(out.size());
          break;
        case 10:
          e.mutable_container_removed()->set_id(id);
          containers.erase(containers.begin() + i);
          running.erase(running.begin() + i);
          break;
        case 11: {
          auto* n = e.mutable_network_created();
          n->set_id(hex(counter));
          n->set_name("n" + std::to_string(counter));
          networks.push_back(n->id());
          break;
        }
        case 12:
          if (networks.empty()) continue;
          e.mutable_ip_allocated()->set_network_id(networks[pick(networks.size())]);
          e.mutable_ip_allocated()->set_address("10.0.0." + std::to_string(pick(250)));
          e.mutable_ip_allocated()->set_owner(id);
          break;
        default: {
          auto* v = e.mutable_volume_created();
          v->set_name("v" + std::to_string(counter));
          volumes.push_back(v->name());
          break;
        }
      }
    }
    v1::Envelope env;
    env.set_seq(out.size() + 1);
    t += 1000 + pick(1000000);
    env.set_time_ns(t);
    env.set_schema_version(1);
    *env.mutable_event() = std::move(e);
    out.push_back(std::move(env));
  }
  return out;
}

}  // namespace arca::testing
