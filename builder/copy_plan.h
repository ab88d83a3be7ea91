// COPY and ADD with local sources (issue #7), with the rules of dockerd's
// classic builder (moby builder/dockerfile copy.go and internals.go, v20.10
// to v28): which context files a source names, where they land, what is
// extracted, and the source hash shown in the step's created_by. Unlike the
// rest of builder/ this reads the file system: the extracted build context
// (never following a symlink out of it: every context path is resolved with
// openat2(RESOLVE_IN_ROOT)) and, in executeCopy, writes below a destination
// root (the container's root, mounted by the caller), never outside it.
// Stateless; any thread, one call per directory tree at a time.
//
// Source rules (planCopy):
// - A source loses one leading "/" and then one leading "./"; when it still
//   contains `*`, `?` or `[` (a `\` escapes the next character) it is a
//   wildcard, matched with Go's filepath.Match against the context-relative
//   path of every file and directory of the context, in filepath.Walk order
//   (lexical, parents first, symlinks not entered). Each match is then taken
//   as a plain source. A wildcard matching nothing adds no source.
// - A plain source is resolved inside the context root, following symlinks
//   (an absolute link target means the context root), so a named symlink
//   copies what it points to; a link pointing outside the context resolves
//   inside it and normally is "not found". Symlinks met inside a copied
//   directory are copied as links and never followed.
// - Errors: "<CMD> failed: forbidden path outside the build context: ../x ()"
//   when the path, cleaned, leaves the context; "<CMD> failed: file not found
//   in build context or excluded by .dockerignore: stat x: file does not
//   exist"; "<CMD> failed: no source files were specified" when nothing
//   matched; "When using <CMD> with more than one source file, the
//   destination must be a directory and end with a /" when more than one
//   source results (after wildcard expansion) and the destination does not
//   end in "/" (dockerd's classic builder does not treat "." as a directory
//   here, unlike BuildKit); COPY of a URL: "COPY failed: source can't be a URL
//   for COPY".
//
// Destination rules (executeCopy): a relative destination is joined to
// WORKDIR (a trailing "/" kept). The destination is resolved inside the
// destination root, following symlinks there (confined to it). A directory
// source copies its contents into the destination directory. A file goes to
// <dest>/<basename of the source as named> when the destination ends in "/"
// or is an existing directory (so "." and "dir/." work when the directory
// exists, as in dockerd), else to the destination path itself. For ADD, a
// local file that is a tar archive (plain, gzip, bzip2, xz or zstd, detected
// from its content, never its name) is extracted into the destination
// directory; URL downloads are never extracted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::builder {

// What one resolved COPY/ADD source is.
enum class CopySourceKind {
  kFile,     // a regular file (or something that is not a directory)
  kDir,      // a directory: its contents are copied
  kArchive,  // ADD only: a local tar archive, extracted into the destination
  kUrl,      // ADD only: an http(s) URL, downloaded by the build driver
};

// One source of a COPY/ADD after wildcard expansion.
struct CopySource {
  CopySourceKind kind = CopySourceKind::kFile;
  // Context-relative path as dockerd names it (leading "/" and "./" removed,
  // not otherwise cleaned; "." for the context root), or the URL. For a
  // downloaded URL, finishUrlSource sets it to the file name.
  std::string path;
  // The directory `path` is read from: the context root, or for a URL the
  // driver's download directory once finishUrlSource ran ("" before).
  std::string root;
  // "file:<hex>" or "dir:<hex>"; for a downloaded URL the bare hex, as
  // dockerd shows it; "" for a URL not downloaded yet.
  std::string hash;
  // URL only: the file name taken from the URL's path ("" when the path has
  // none; then Content-Disposition decides, see urlFileName).
  std::string url_file_name;
};

// A planned COPY or ADD.
struct CopyPlan {
  bool is_add = false;
  std::string dest;       // the destination as written (after expansion), for the comment
  std::string dest_path;  // absolute container path: WORKDIR applied, trailing "/" kept
  std::vector<CopySource> sources;
};

struct CopyPlanOptions {
  // The raw --chown value: part of every source hash (the owners-to-be).
  std::string chown;
};

// The context path of a source the way dockerd sees it: one leading "/" and
// then one leading "./" removed.
std::string trimCopySource(std::string_view source);

// Whether `source` is a wildcard (contains `*`, `?` or `[` not escaped by `\`).
bool isCopyWildcard(std::string_view source);

// Go's filepath.Match on '/'-separated paths: `*` (any run without '/'),
// `?` (one character but '/'), `[...]` classes with ranges and `^`
// negation, `\` escapes. InvalidArgument "syntax error in pattern" for a
// malformed pattern.
StatusOr<bool> goPathMatch(std::string_view pattern, std::string_view name);

// urlutil.IsURL: starts with "http://" or "https://".
bool isCopyUrl(std::string_view source);

// normalizeDest: a relative `dest` becomes path.Join("/", workdir, dest)
// with a trailing "/" kept; an absolute one is returned as written.
std::string normalizeCopyDest(std::string_view workdir, std::string_view dest);

// Plans COPY (is_add false) or ADD of `sources` (already expanded) to `dest`
// (already expanded) with WORKDIR `workdir`, reading the extracted build
// context at `context_root`; errors carry dockerd's texts (see above).
// URL sources of ADD are only classified here (kind kUrl).
StatusOr<CopyPlan> planCopy(const std::string& context_root, const std::vector<std::string>& sources,
                            const std::string& dest, const std::string& workdir, bool is_add,
                            const CopyPlanOptions& options = {});

// getFilenameForDownload plus the copier's fallback: the base name of the
// URL's path unless it is empty or ends in "/", else the Content-Disposition
// header's filename parameter (`content_disposition` as received, "" when
// absent), else "__unnamed__" — or, when `dest` ends in "/", the error
// "ADD failed: cannot determine filename for source <url>".
StatusOr<std::string> urlFileName(std::string_view url, std::string_view content_disposition,
                                  std::string_view dest);

// After the driver downloaded a kUrl source to `download_dir`/`file_name`
// (file name from urlFileName; dockerd creates it with mode 0600 and sets
// its times to Last-Modified or the zero time): points the source at it and
// hashes it (bare hex, as dockerd). The source stays kUrl: never extracted.
Status finishUrlSource(CopySource* source, const std::string& download_dir,
                       const std::string& file_name, const CopyPlanOptions& options = {});

// getSourceHashFromInfos: the one source's hash, or "multi:<hex>" over all
// of them.
std::string copySourceHash(const CopyPlan& plan);

// The step's comment as performCopy formats it: "COPY file:<hex> in /dst "
// or, with --chown, "ADD --chown=1:2dir:<hex> in dst " (dockerd's missing
// space and trailing space kept); `dest` is the destination as written. The
// driver puts "/bin/sh -c #(nop) " before it in created_by.
std::string copyComment(const CopyPlan& plan, std::string_view chown);

// Owner of what executeCopy writes.
struct CopyOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// Performs `plan` below `dest_root` (a directory; nothing is written outside
// it). `owner`: dockerd's identity (the resolved --chown, or 0:0 by
// default): everything copied is chowned to it, and so are the parent
// directories created for a file; the parents created for a directory are
// left to the writer (root), and the destination directory of a directory
// copy is chowned only when it was created. Extracted archives keep their
// entries' owners. nullopt keeps the sources' owners (COPY --from without
// --chown). `chmod`: BuildKit's --chmod, applied to every copied file and
// directory (not to links, created parents or extracted archives; dockerd's
// classic builder refuses the flag, so the driver decides). Modes (with
// setuid/setgid/sticky), mtimes (truncated to seconds; atime = mtime),
// symlinks, hard links inside a copied directory, fifos, device nodes and
// security.capability are kept. An existing entry in the way is replaced
// (a directory merges with a directory); symlinks in the destination are
// followed only inside `dest_root`.
Status executeCopy(const CopyPlan& plan, const std::string& dest_root,
                   const std::optional<CopyOwner>& owner, const std::optional<uint32_t>& chmod = {});

}  // namespace arca::builder
