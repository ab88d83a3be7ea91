// .dockerignore files and their patterns (issue #7), with the rules of
// moby/patternmatcher v0.6 (ignorefile.ReadAll and PatternMatcher), which
// both the docker CLI and dockerd use. Pure.
//
// Who applies it in the classic builder: the docker CLI reads .dockerignore
// and leaves the excluded files out of the context tar it sends to POST
// /build, walking like moby's archive.TarWithOptions (see `walkMatch` and
// `mustWalkExcludedDir`). It always sends the Dockerfile and .dockerignore
// themselves: when the patterns exclude them it appends "!.dockerignore" and
// "!<Dockerfile>". dockerd then does not filter the context again; after
// reading and parsing the Dockerfile it removes ".dockerignore" and the
// Dockerfile (the path given in the request, as given) from the extracted
// context when `MatchesOrParentMatches` says they are excluded, so ADD/COPY
// never see an ignored Dockerfile or .dockerignore while the build still
// uses it. Errors there are ignored (a bad pattern removes nothing); see
// `contextFilesToRemove`. The same happens for git and URL contexts.
//
// Matching ignores whether a path is a directory ("dir/" is cleaned to
// "dir"); a path is excluded when the last pattern that matches it or one of
// its parent directories is not an exception ("!").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace arca::builder {

// Go's filepath.Clean for '/'-separated paths ("" -> ".", "a//b/../c" ->
// "a/c", "/../a" -> "/a", "../a" stays).
std::string cleanPath(std::string_view path);

// ignorefile.ReadAll: the patterns of a .dockerignore text, in order. A UTF-8
// BOM is dropped from the first line; lines split on "\n" (one trailing
// "\r" dropped); lines starting with "#" (before any trimming) are comments;
// lines are trimmed and blank ones skipped; "!" marks an exception, with
// blanks after it trimmed too; the rest is cleaned like filepath.Clean and a
// leading "/" removed ("./a/" -> "a", "/a" -> "a", "!/a/../b" -> "!b").
// Lines of 64 KiB or more fail with Go's "bufio.Scanner: token too long"
// (dockerd prefixes "error reading .dockerignore: ").
StatusOr<std::vector<std::string>> parseDockerignore(std::string_view text);

// One compiled pattern (implementation detail, exposed for IgnoreMatcher).
struct IgnorePattern {
  enum class Type { kExact, kPrefix, kSuffix, kRegexp };
  struct Token {
    enum class Kind { kLit, kClass, kStarNoSlash, kOptDirs, kAnyStar, kBegin };
    Kind kind = Kind::kLit;
    int32_t rune = 0;                                 // kLit
    std::vector<std::pair<int32_t, int32_t>> ranges;  // kClass
    bool negated = false;                             // kClass
  };
  std::string cleaned;     // the pattern without "!", cleaned (patternmatcher's String())
  bool exclusion = false;  // a "!" exception
  Type type = Type::kExact;
  std::vector<Token> tokens;   // for kRegexp
  bool compile_error = false;  // Go's regexp refused it: matching it fails

  // Whether `path` (cleaned, '/'-separated) matches; an error when the
  // pattern cannot be compiled ("syntax error in pattern").
  StatusOr<bool> match(std::string_view path) const;
};

// Docker's PatternMatcher. Patterns use Go's filepath.Match syntax: `*` (not
// across '/'), `?` (one character, not '/'), `[...]` classes with ranges and
// `^` negation (`!` is not negation, unlike gitignore), `\` escapes; plus
// `**` for any number of directories ("**/x", "a/**/b", "a/**"). The last
// matching pattern wins. Two quirks kept from Docker's translation: a
// pattern starting with "**" whose rest has no wildcard is a plain suffix
// test ("**foo" matches "barfoo"), and one ending in "**" whose start has
// none is a plain prefix test ("a**" matches "ab/c"). Not reproduced: Docker
// turns `*` and `?` inside a class into regexp text (Arca takes them
// literally), and `[[:alpha:]]` is not a POSIX class here.
class IgnoreMatcher {
 public:
  // patternmatcher.New: trims, cleans (with the "!"), refuses a lone "!"
  // (`illegal exclusion pattern: "!"`) and patterns filepath.Match refuses
  // ("syntax error in pattern"); blank patterns are skipped.
  static StatusOr<IgnoreMatcher> create(const std::vector<std::string>& patterns);

  // MatchesOrParentMatches (the package function dockerd uses): `path` is
  // cleaned ("." is never excluded); each pattern that can change the
  // outcome is tried on the path, then on each parent ("a", "a/b", ...).
  // Fails with "syntax error in pattern" when a pattern that had to be
  // tried on the path itself cannot be compiled.
  StatusOr<bool> excluded(std::string_view path) const;

  // What a context walker keeps per directory (MatchesUsingParentResults).
  struct MatchInfo {
    std::vector<bool> parent_matched;  // empty = nothing known about the parent
  };
  // The walker's test of `path` (relative, '/'-separated, not cleaned),
  // given the MatchInfo of its parent directory (empty for top-level
  // entries); `info` receives the MatchInfo to pass to its children. A
  // pattern matched by the parent counts as matched for the child without
  // looking at the child, so this can differ from `excluded` (Docker's
  // walker and its removal check differ the same way).
  StatusOr<bool> walkMatch(std::string_view path, const MatchInfo& parent, MatchInfo* info) const;

  // For an excluded directory: whether the walker must still enter it
  // because some exception pattern, as text, starts with "<dir>/" (so
  // "!dir/keep" re-includes dir/keep under an excluded "dir", while
  // "!**/keep" cannot re-include anything under an excluded directory).
  bool mustWalkExcludedDir(std::string_view dir) const;

  // Whether any pattern is an exception.
  bool hasExclusions() const { return exclusions_; }
  const std::vector<IgnorePattern>& patterns() const { return patterns_; }

 private:
  std::vector<IgnorePattern> patterns_;
  bool exclusions_ = false;
};

// What dockerd removes from an extracted build context after parsing the
// Dockerfile: ".dockerignore" and then `dockerfile_path` (as given in the
// request), each when `patterns` (the .dockerignore's) exclude it. Any
// pattern error yields nothing, as dockerd ignores the error.
std::vector<std::string> contextFilesToRemove(const std::vector<std::string>& patterns,
                                              std::string_view dockerfile_path);

}  // namespace arca::builder
