// Dockerfile instructions applied to an image config: the `changes` of
// `docker import --change` and `docker commit --change` (pure; fuzzed by
// tests/fuzz/image_changes_fuzz.cc).
//
// As dockerd does, the changes are joined with "\n" and read as a
// Dockerfile (comments, blank lines and "\" line continuations allowed).
// Allowed instructions: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. JSON and shell forms (a shell
// form CMD/ENTRYPOINT runs under the config's Shell, by default
// ["/bin/sh","-c"]), Docker's quoting and escapes, and $VAR / ${VAR} /
// ${VAR:-word} / ${VAR:+word} / ${VAR:?word} expansion from the config's Env
// (for ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR) behave as in
// dockerd. Errors are InvalidArgument with dockerd's texts, e.g.
// "foo is not a valid change command".
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "engine/status.h"

namespace arca::api {

// Applies `changes` to `config`, a JSON object in the shape of Docker's
// container Config ("Env", "Cmd", "Entrypoint", "ExposedPorts", "Labels",
// "OnBuild", "StopSignal", "User", "Volumes", "WorkingDir", "Healthcheck";
// "Shell" is read). Other members are left alone. No change at all (an empty
// list) is not an error. On error `config` is unchanged.
Status applyChanges(const std::vector<std::string>& changes, rapidjson::Value* config,
                    rapidjson::Document::AllocatorType& alloc);

// Docker's word processing of one instruction argument: quotes removed,
// escapes resolved, variables expanded from `env` ("K=V" entries).
StatusOr<std::string> processWord(const std::string& word, const std::vector<std::string>& env);
// The same, split into fields on unquoted whitespace (EXPOSE's arguments).
StatusOr<std::vector<std::string>> processWords(const std::string& word,
                                                const std::vector<std::string>& env);

}  // namespace arca::api
