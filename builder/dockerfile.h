// The Dockerfile parser of the classic builder (issue #7). Pure: text in,
// instructions out; no I/O, no variable substitution.
//
// Reference: dockerd 20.10's classic builder (moby v20.10.27 with its vendored
// buildkit parser and `instructions` package), the engine measured beside
// Arca. Two phases, as there:
//   1. syntax (buildkit `parser.Parse`): directives, comments, continuations,
//      the instruction keyword, `--flags`, and the arguments split by each
//      instruction's rule (JSON or shell form, words, key=value pairs);
//   2. instructions (`instructions.Parse`): the per-instruction checks
//      (argument counts, flags, HEALTHCHECK options, ONBUILD triggers, FROM's
//      `AS name`) and the split into stages, in file order.
// A syntax error anywhere wins over an instruction error earlier in the file.
//
// Error messages (all Code::kInvalidArgument, as dockerd's InvalidParameter)
// are COMPLETE: the driver prints Status::message() as is (in the build
// stream's errorDetail), adding no prefix. They read:
//   - empty file (0 bytes):  "the Dockerfile (<name>) cannot be empty"
//   - syntax errors:         "failed to parse <name>: <text>" (no line; e.g.
//       "failed to parse Dockerfile: ENV must have two arguments",
//       "failed to parse Dockerfile: file with no instructions")
//   - instruction errors:    "dockerfile parse error line <N>: <text>" (N is the
//       instruction's first line; e.g. "... line 3: unknown instruction: FRO")
//   - an instruction before the first FROM (other than ARG):
//       "no build stage in current context"
// where <name> is the `dockerfile` parameter of POST /build ("Dockerfile").
// The 1-based line of any failure is also stored through `error_line`.
// Docker 23+ words two of these differently ("dockerfile parse error on line
// N:", "(did you mean from?)"); Arca follows 20.10.
//
// Raw fields: nothing here is expanded. The classic builder expands, per
// instruction, with the escape token of the Dockerfile: FROM's image and
// --platform (meta ARGs only), ENV and LABEL keys and values, ARG values,
// ADD/COPY sources, destination and --chown, WORKDIR, USER, VOLUME,
// STOPSIGNAL, EXPOSE (ProcessWords). It never expands RUN/CMD/ENTRYPOINT/
// SHELL/HEALTHCHECK/ONBUILD/MAINTAINER. Words keep their quotes and escapes
// exactly as Docker keeps them (`K2="v 2"` gives the value `"v 2"`), so
// shell_lex's ProcessWord removes them later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::builder {

enum class InstructionKind {
  kUnknown,  // only in an ONBUILD trigger (Docker checks triggers when they fire)
  kAdd,
  kArg,
  kCmd,
  kCopy,
  kEntrypoint,
  kEnv,
  kExpose,
  kFrom,
  kHealthcheck,
  kLabel,
  kMaintainer,
  kOnbuild,
  kRun,
  kShell,
  kStopsignal,
  kUser,
  kVolume,
  kWorkdir,
};

// One ENV/LABEL pair or ARG declaration (raw: quotes and escapes kept).
struct KeyValue {
  std::string key;
  std::string value;
  bool has_value = true;  // false for `ARG name` without "="
  bool operator==(const KeyValue&) const = default;
};

// HEALTHCHECK, as Docker stores it in the image config (not expanded).
struct Healthcheck {
  // {"NONE"}, {"CMD", exec args...} (JSON form) or {"CMD-SHELL", "command"}.
  std::vector<std::string> test;
  int64_t interval_ns = 0;  // 0 = not set (inherit / default)
  int64_t timeout_ns = 0;
  int64_t start_period_ns = 0;
  int retries = 0;  // 0 = not set
};

struct Instruction {
  InstructionKind kind = InstructionKind::kUnknown;
  std::string keyword;  // as written ("from", "FROM")
  std::string name;     // lower case ("from"): Docker's command name
  int start_line = 0;   // 1-based, the line of the keyword
  int end_line = 0;     // the last line of its continuations
  // The logical line as Docker joins it: first line without leading blanks,
  // continuation lines as written, escapes ending lines and comment lines
  // removed (buildkit's Node.Original).
  std::string original;
  // `original` without surrounding white space: the "Step 2/5 : <code>" text,
  // docker history's created_by material and the build cache key text.
  std::string code;
  std::vector<std::string> flags;  // the leading --flags, quotes removed ("--from=build")
  std::vector<std::string> args;   // the arguments as Docker's AST lists them
  bool json = false;               // written in JSON (exec) form

  // Per kind (fields of other kinds stay empty):
  // RUN/CMD/ENTRYPOINT: exec args (json) or {"shell command"}; prepend the
  // stage's SHELL when !json. ENTRYPOINT/CMD with no argument: empty.
  std::vector<std::string> cmdline;
  // ENV/LABEL pairs, ARG declarations (raw).
  std::vector<KeyValue> pairs;
  // ADD/COPY (raw): sources and destination; --from (COPY), --chown, --chmod, --link.
  std::vector<std::string> sources;
  std::string dest;
  std::string from_flag;
  std::string chown;
  std::string chmod;
  bool link = false;
  // FROM: image (raw), `AS` name lower-cased ("" when none), --platform (raw).
  std::string base_name;
  std::string stage_name;
  std::string platform;
  // RUN: --mount values as written (not validated: the classic builder
  // refuses --mount at dispatch: "the --mount option requires BuildKit..."),
  // --network (default/none/host; the same refusal applies).
  std::vector<std::string> mounts;
  std::string network;
  // EXPOSE ports (sorted as strings, as Docker does), VOLUME paths (trimmed),
  // SHELL's exec array.
  std::vector<std::string> list;
  // USER, WORKDIR, STOPSIGNAL, MAINTAINER: the single argument.
  std::string value;
  std::optional<Healthcheck> healthcheck;
  // ONBUILD: the trigger text stored in the image config (the original line
  // without "ONBUILD "), and the trigger split by phase 1 only (its kind,
  // keyword, flags, args, json; no per-instruction checks, as Docker).
  std::string onbuild_expression;
  std::vector<Instruction> onbuild;  // exactly one element for ONBUILD
  // LABEL from `docker build --label` (labelOption): never expanded.
  bool no_expand = false;
};

// A build stage: its FROM and the instructions up to the next FROM.
struct Stage {
  std::string name;  // lower-case `AS` name, "" when unnamed
  Instruction from;
  std::vector<Instruction> commands;
};

struct Dockerfile {
  char escape = '\\';  // from `# escape=` (` or \)
  std::string syntax;  // `# syntax=` value, "" when absent (the classic builder ignores it)
  // Warnings dockerd prints on the build's stderr before step 1, each a line
  // ("[WARNING]: Empty continuation line found in:\n    RUN a b", then
  // "[WARNING]: Empty continuation lines will become errors in a future release.").
  std::vector<std::string> warnings;
  std::vector<Instruction> meta_args;  // ARGs before the first FROM
  std::vector<Stage> stages;

  // The index of the stage named `name` (case-insensitive), or -1.
  int stageIndex(std::string_view name) const;
};

// Parses a whole Dockerfile. `name` is the Dockerfile's path as the client
// gave it (only used in error texts); `error_line`, when given, receives the
// 1-based line of a failure (0 for an empty file).
StatusOr<Dockerfile> parseDockerfile(std::string_view text, std::string_view name = "Dockerfile",
                                     int* error_line = nullptr);

// The index of the last stage to build for `--target` (the last stage when
// `target` is empty), or "failed to reach build target <t> in Dockerfile".
// With no stage at all (only ARGs) and no target: -1.
StatusOr<int> targetStageIndex(const Dockerfile& df, std::string_view target);

// Every step of a build in order: the meta ARGs, then per stage up to the
// target its FROM and commands. "Step i/N" numbers this list (N = size).
// Pointers into `df`.
StatusOr<std::vector<const Instruction*>> targetInstructions(const Dockerfile& df,
                                                             std::string_view target);

// An ONBUILD trigger of a base image, parsed when the trigger fires, with
// dockerd's texts there (no "dockerfile parse error" prefix; FROM gives
// "*instructions.Stage is not a command type", a text with several lines
// "onbuild trigger should be a single expression").
StatusOr<Instruction> parseTrigger(std::string_view expression);

// The LABEL instruction dockerd appends to the last stage for one
// `docker build --label k=v` (code "LABEL k=v", no_expand); add them in
// key order.
Instruction labelOption(std::string_view key, std::string_view value);

// Go's time.ParseDuration (HEALTHCHECK options), its error texts included.
StatusOr<int64_t> parseGoDuration(std::string_view s);

}  // namespace arca::builder
