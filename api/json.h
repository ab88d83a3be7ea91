// Small helpers over RapidJSON for Docker's JSON shapes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace arca::api {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

inline void jstr(JsonWriter& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}
inline void jstrOrNull(JsonWriter& w, const char* key, const std::string& v) {
  w.Key(key);
  if (v.empty()) {
    w.Null();
  } else {
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  }
}
template <typename Seq>
void jstrArray(JsonWriter& w, const char* key, const Seq& seq, bool null_if_empty = false) {
  w.Key(key);
  if (null_if_empty && seq.empty()) {
    w.Null();
    return;
  }
  w.StartArray();
  for (const auto& s : seq) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}
template <typename Map>
void jstrMap(JsonWriter& w, const char* key, const Map& m, bool null_if_empty = false) {
  w.Key(key);
  if (null_if_empty && m.empty()) {
    w.Null();
    return;
  }
  // Sorted output (protobuf maps iterate in hash order).
  std::map<std::string, std::string> sorted(m.begin(), m.end());
  w.StartObject();
  for (const auto& [k, v] : sorted) {
    w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
}

// Typed getters on a parsed object; absent or null -> nullopt. A present value
// of the wrong type sets *type_error (the caller answers 400).
std::optional<std::string> getString(const rapidjson::Value& o, const char* k, bool* type_error);
std::optional<int64_t> getInt(const rapidjson::Value& o, const char* k, bool* type_error);
std::optional<bool> getBool(const rapidjson::Value& o, const char* k, bool* type_error);
// Arrays of strings; a bare string is accepted as a one-element list (Docker's
// StrSlice for Cmd/Entrypoint).
std::optional<std::vector<std::string>> getStrings(const rapidjson::Value& o, const char* k,
                                                   bool* type_error);
std::optional<std::map<std::string, std::string>> getStringMap(const rapidjson::Value& o,
                                                               const char* k, bool* type_error);

// True when `v` holds something other than its type's zero value (null,
// false, 0, "", [], {}): an option a client actually set.
bool nonDefault(const rapidjson::Value& v);

// Docker's `filters` query parameter: {"k":{"v":true}} or legacy {"k":["v"]}.
// Returns false on malformed JSON.
bool parseFilters(const std::string& raw, std::map<std::string, std::vector<std::string>>* out);

std::string jsonEscape(const std::string& s);

}  // namespace arca::api
