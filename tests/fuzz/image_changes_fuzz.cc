// libFuzzer: `changes` of docker import/commit (api/image_changes.cc).
// The input is split at NUL bytes into the list of changes and applied to a
// config with Env, Cmd and Shell set. Checks: no crash; a failure leaves the
// config byte-identical; a success leaves a JSON object whose Env entries are
// all "K=V" strings. The word processors run on the raw input too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/image_changes.h"

namespace {

std::string dump(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> changes;
  size_t start = 0;
  while (true) {
    size_t nul = s.find('\0', start);
    changes.push_back(s.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  rapidjson::Document d;
  d.Parse(R"({"Env":["PATH=/bin","A=1"],"Cmd":["sh"],"Shell":["/bin/sh","-c"],"WorkingDir":"/w"})");
  const std::string before = dump(d);
  arca::Status st = arca::api::applyChanges(changes, &d, d.GetAllocator());
  if (!st.ok()) {
    if (dump(d) != before) __builtin_trap();
  } else {
    if (!d.IsObject()) __builtin_trap();
    auto env = d.FindMember("Env");
    if (env != d.MemberEnd() && env->value.IsArray()) {
      for (const auto& e : env->value.GetArray()) {
        if (!e.IsString() || std::string(e.GetString(), e.GetStringLength()).find('=') == std::string::npos) {
          __builtin_trap();
        }
      }
    }
  }
  std::vector<std::string> vars = {"A=1", "B=x y", "C"};
  (void)arca::api::processWord(s, vars);
  (void)arca::api::processWords(s, vars);
  return 0;
}
