// Docker's word processing for Dockerfile instructions (issue #7): quote
// removal, escapes and variable substitution, with the rules of buildkit's
// frontend/dockerfile/shell package, which dockerd's classic builder uses too
// (moby vendors the same lexer; checked against buildkit v0.32). Pure.
//
// Which instruction uses what, in the classic builder (moby
// daemon/builder/dockerfile):
//   processWord, environment = the stage's Env followed by the allowed build
//     args that Env does not define (Env wins; later Env entries win):
//       ADD / COPY (sources, destination, --chown, --chmod, ADD --checksum),
//       ENV and LABEL (each key and each value), ARG (name and default),
//       WORKDIR, USER, VOLUME (each path), STOPSIGNAL, RUN --mount options.
//   processWord, environment = the meta args only (ARGs before the first
//     FROM, with --build-arg overrides), no Env:  FROM's image and --platform.
//   processWords (the only word-to-words expansion): EXPOSE, each port word
//     ("EXPOSE $P" with P="80 443" exposes both).
//   Never expanded by the builder: RUN / CMD / ENTRYPOINT / SHELL (the shell
//     does it), HEALTHCHECK, MAINTAINER, ONBUILD (expanded when it triggers).
// Errors are InvalidArgument ("failed to process \"<word>\": <reason>", the
// word quoted like Go's %q); dockerd reports them as 400 except for EXPOSE.
//
// Supported forms: $V, ${V}, ${V:-w} ${V-w} ${V:+w} ${V+w} ${V:?msg} ${V?msg},
// ${V#pat} ${V##pat} ${V%pat} ${V%%pat} (shortest/longest prefix/suffix
// removal, pat with * and ?), ${V/pat/repl} ${V//pat/repl}; the word parts
// expand recursively. $1, $@, $*, $#, $?, $-, $$, $!, $0 are names that are
// never set (they expand to ""). Unknown forms fail like Docker
// ("unsupported modifier (:=) in substitution", "syntax error: bad
// substitution", "syntax error: missing '}'"). Notably "${V" (no modifier,
// no brace) fails with "unsupported modifier (\uFFFD) in substitution", as
// Go formats the end-of-input rune.
//
// Escapes: outside quotes the escape character (`\` or, with
// "# escape=`", the backtick) makes the next character literal and is dropped
// (a trailing one vanishes). Inside double quotes it escapes only `"`, `$`
// and itself; before anything else it stays literal. With the backtick
// escape a backslash is an ordinary character everywhere (Windows paths),
// except in #, % and / patterns, where `\` always escapes `*`, `?`, `\`
// (and `}` / `/`), whatever the escape character. Single quotes take
// everything literally (no escapes, no expansion).
//
// One deliberate difference: since buildkit v0.15 (Docker 27.1) nested
// ${V:-...} forms inside processWords drop the text of the current word
// before them (a shared buffer is reset). Arca keeps that text, as Docker did
// before; only EXPOSE is affected.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace arca::builder {

// Where variables come from. `env` entries are "KEY=VALUE" (an entry without
// '=' defines KEY as ""); for the same key the later entry wins. `build_arg`
// (optional) is asked only for names `env` does not define, which is how
// the classic builder layers allowed build args under the Env.
struct ShellEnv {
  std::vector<std::string> env;
  std::function<std::optional<std::string>(std::string_view name)> build_arg;

  // The value of `name`, or nullopt when it is unset.
  std::optional<std::string> lookup(std::string_view name) const;
};

// The outcome of processing one word.
struct ShellWord {
  std::string value;                // processWord's result (one string)
  std::vector<std::string> words;   // processWords's result (split on unquoted white space)
  std::set<std::string> matched;    // variable names referenced that were set
  std::set<std::string> unmatched;  // variable names referenced that were unset
};

// A lexer for one escape character. Stateless and cheap; any thread.
class ShellLex {
 public:
  // `escape` is '\\' (the default) or '`' (the "# escape=`" directive).
  explicit ShellLex(char escape = '\\') : escape_(escape) {}

  // Processes `word` once, filling both the single-string and the split
  // result and the referenced names (buildkit's ProcessWordWithMatches).
  StatusOr<ShellWord> process(std::string_view word, const ShellEnv& env) const;
  // Docker's ProcessWord: quotes removed, escapes processed, variables
  // expanded, white space kept.
  StatusOr<std::string> processWord(std::string_view word, const ShellEnv& env) const;
  // Docker's ProcessWords: as processWord, but split into words on white
  // space that is neither quoted nor escaped; white space from an unquoted
  // variable's value splits too ("$V" in double quotes does not). An empty
  // quoted word ("") produces no word, as in Docker.
  StatusOr<std::vector<std::string>> processWords(std::string_view word, const ShellEnv& env) const;

  char escape() const { return escape_; }

 private:
  char escape_;
};

// One UTF-8 code point at s[i] (i < s.size()): the rune and its width; an
// invalid byte is U+FFFD of width 1, as Go decodes it. Shared with
// dockerignore.cc.
std::pair<int32_t, size_t> decodeUtf8(std::string_view s, size_t i);
// Appends `r` in UTF-8 (invalid code points as U+FFFD).
void appendUtf8(std::string& out, int32_t r);
// Go's unicode.IsSpace. Shared with dockerfile.cc.
bool isGoSpace(int32_t r);

// Go's %q quoting of a string (used in Docker's error texts): `"` and `\`
// escaped, \a \b \f \n \r \t \v, other control and invalid bytes as \xNN,
// non-printable code points as \uNNNN. Exposed for the other builder files.
std::string goQuote(std::string_view s);

}  // namespace arca::builder
