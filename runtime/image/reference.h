// Docker image references: parsing and normalization (pure; fuzzed).
//
//   busybox                    -> docker.io/library/busybox:latest
//   me/app:1                   -> docker.io/me/app:1
//   localhost:5000/a/b@sha256:…-> localhost:5000/a/b@sha256:…
// Familiar form is the reverse (docker.io/library/ dropped), as docker prints.
#pragma once

#include <string>
#include <string_view>

#include "engine/status.h"

namespace arca::image {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "" when none given (and no digest)
  std::string digest;  // "sha256:<64 hex>" or ""

  // "docker.io/library/busybox" (no tag/digest)
  std::string name() const;
  // Fully qualified, with ":latest" added when neither tag nor digest.
  std::string full() const;
  // Familiar form of full(): "busybox:latest", "me/app:1", "localhost:5000/a:b".
  std::string familiar() const;
  std::string familiarName() const;
};

// Parses what a user typed. Uppercase in repository names, empty parts, bad
// tags and malformed digests give InvalidArgument with Docker's wording:
// "invalid reference format" / "invalid reference format: repository name
// (library/Busybox) must be lowercase".
StatusOr<Reference> parseReference(std::string_view s);

// Reference with ":latest" filled in when neither tag nor digest was given.
StatusOr<Reference> parseNormalizedNamed(std::string_view s);

// "docker.io/library/busybox:latest" -> "busybox:latest" (any fully qualified ref).
std::string familiarString(std::string_view full_ref);

// True when `s` looks like a (possibly short) hex image id: 1-64 hex chars,
// optionally prefixed with "sha256:".
bool looksLikeIdPrefix(std::string_view s);

}  // namespace arca::image
