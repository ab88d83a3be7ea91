#include "api/json.h"

namespace arca::api {

bool nonDefault(const rapidjson::Value& v) {
  if (v.IsNull()) return false;
  if (v.IsBool()) return v.GetBool();
  if (v.IsNumber()) return v.GetDouble() != 0;
  if (v.IsString()) return v.GetStringLength() > 0;
  if (v.IsArray()) return !v.Empty();
  if (v.IsObject()) return v.MemberCount() > 0;
  return false;
}

std::optional<std::string> getString(const rapidjson::Value& o, const char* k, bool* te) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsString()) {
    *te = true;
    return std::nullopt;
  }
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<int64_t> getInt(const rapidjson::Value& o, const char* k, bool* te) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsUint64()) return static_cast<int64_t>(it->value.GetUint64());
  if (it->value.IsDouble()) return static_cast<int64_t>(it->value.GetDouble());
  *te = true;
  return std::nullopt;
}

std::optional<bool> getBool(const rapidjson::Value& o, const char* k, bool* te) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsBool()) {
    *te = true;
    return std::nullopt;
  }
  return it->value.GetBool();
}

std::optional<std::vector<std::string>> getStrings(const rapidjson::Value& o, const char* k,
                                                   bool* te) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return std::nullopt;
  std::vector<std::string> out;
  if (it->value.IsString()) {
    out.emplace_back(it->value.GetString(), it->value.GetStringLength());
    return out;
  }
  if (!it->value.IsArray()) {
    *te = true;
    return std::nullopt;
  }
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString()) {
      *te = true;
      return std::nullopt;
    }
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

std::optional<std::map<std::string, std::string>> getStringMap(const rapidjson::Value& o,
                                                               const char* k, bool* te) {
  if (!o.IsObject()) return std::nullopt;
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsObject()) {
    *te = true;
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  for (const auto& m : it->value.GetObject()) {
    if (!m.value.IsString()) {
      *te = true;
      return std::nullopt;
    }
    out[std::string(m.name.GetString(), m.name.GetStringLength())] =
        std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return out;
}

bool parseFilters(const std::string& raw, std::map<std::string, std::vector<std::string>>* out) {
  out->clear();
  if (raw.empty()) return true;
  rapidjson::Document d;
  d.Parse(raw.c_str(), raw.size());
  if (d.HasParseError() || !d.IsObject()) return false;
  for (const auto& m : d.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    auto& vals = (*out)[key];
    if (m.value.IsObject()) {
      for (const auto& v : m.value.GetObject()) {
        if (v.value.IsBool() && !v.value.GetBool()) continue;
        vals.emplace_back(v.name.GetString(), v.name.GetStringLength());
      }
    } else if (m.value.IsArray()) {
      for (const auto& v : m.value.GetArray()) {
        if (!v.IsString()) return false;
        vals.emplace_back(v.GetString(), v.GetStringLength());
      }
    } else {
      return false;
    }
  }
  return true;
}

std::string jsonEscape(const std::string& s) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return sb.GetString();
}

}  // namespace arca::api
