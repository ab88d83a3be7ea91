#include "builder/dockerignore.h"

#include <gtest/gtest.h>

namespace arca::builder {
namespace {

IgnoreMatcher matcher(const std::vector<std::string>& patterns) {
  auto m = IgnoreMatcher::create(patterns);
  EXPECT_TRUE(m.ok()) << m.status().toString();
  return m.ok() ? *m : IgnoreMatcher();
}

bool excl(const IgnoreMatcher& m, const std::string& path) {
  auto r = m.excluded(path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status().toString();
  return r.ok() && *r;
}

TEST(Dockerignore, CleanPath) {
  std::vector<std::pair<const char*, const char*>> cases = {
      {"", "."},
      {".", "."},
      {"./", "."},
      {"a/", "a"},
      {"./a/./b", "a/b"},
      {"a//b", "a/b"},
      {"a/b/..", "a"},
      {"a/../..", ".."},
      {"../a", "../a"},
      {"/../a", "/a"},
      {"/", "/"},
      {"//a//", "/a"},
      {"a/../b/../c", "c"},
      {"../../x/..", "../.."},
      {"abc/..", "."},
      {"!a/../b", "b"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(cleanPath(in), out) << in;
}

TEST(Dockerignore, ParseFile) {
  auto r = parseDockerignore(
      "\xEF\xBB\xBF# comment\n"
      "\n"
      "   \t\n"
      "  node_modules/  \r\n"
      " # not a comment once indented\n"
      "/abs/path\n"
      "./rel/./x/../y\n"
      "!  keep.txt\n"
      "!/root.md\n"
      "!\n"
      "*.log\r\n"
      "/\n"
      "last-without-newline");
  ASSERT_TRUE(r.ok());
  std::vector<std::string> want = {"node_modules",
                                   "# not a comment once indented",
                                   "abs/path",
                                   "rel/y",
                                   "!keep.txt",
                                   "!root.md",
                                   "!",
                                   "*.log",
                                   "/",
                                   "last-without-newline"};
  EXPECT_EQ(*r, want);
  EXPECT_TRUE(parseDockerignore("")->empty());
  EXPECT_EQ(*parseDockerignore("\xEF\xBB\xBF"
                               "a"),
            std::vector<std::string>{"a"});
  // The BOM is only dropped from the first line.
  EXPECT_EQ(*parseDockerignore("a\n\xEF\xBB\xBF"
                               "b"),
            (std::vector<std::string>{"a",
                                      "\xEF\xBB\xBF"
                                      "b"}));
}

TEST(Dockerignore, ParseFileLineTooLong) {
  std::string ok_line(65535, 'a');
  EXPECT_TRUE(parseDockerignore(ok_line + "\nb").ok());
  auto r = parseDockerignore("x\n" + std::string(65536, 'a') + "\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "bufio.Scanner: token too long");
}

TEST(Dockerignore, CreateErrors) {
  auto r = IgnoreMatcher::create({"a", "!"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "illegal exclusion pattern: \"!\"");
  EXPECT_FALSE(IgnoreMatcher::create({"  !  "}).ok());  // trimmed to "!"
  for (const char* bad : {"[", "a[", "[]", "[]a]", "[a", "[a-", "[a-]", "[-a]", "[^]", "a\\",
                          "[\\]", "x/[z-", "!a[", "**/[", "[a]\\", "[a-]]"}) {
    auto b = IgnoreMatcher::create({bad});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().message(), "syntax error in pattern") << bad;
  }
  for (const char* good :
       {"[a]", "[^a]", "[a-z]", "[!a]", "[\\]]", "\\*", "a]", "[*]x", "a/**/b", "   ", ""}) {
    EXPECT_TRUE(IgnoreMatcher::create({good}).ok()) << good;
  }
  auto m = matcher({"", "  a  ", "!b"});
  ASSERT_EQ(m.patterns().size(), 2u);
  EXPECT_EQ(m.patterns()[0].cleaned, "a");
  EXPECT_TRUE(m.patterns()[1].exclusion);
  EXPECT_TRUE(m.hasExclusions());
  EXPECT_FALSE(matcher({"a"}).hasExclusions());
}

struct MatchCase {
  const char* pattern;
  const char* path;
  bool want;
};

TEST(Dockerignore, SinglePatternSemantics) {
  std::vector<MatchCase> cases = {
      // exact names, and everything under a matched directory
      {"foo", "foo", true},
      {"foo", "foo/bar", true},
      {"foo", "foo/bar/baz", true},
      {"foo", "foobar", false},
      {"foo", "x/foo", false},
      {"foo/", "foo/x", true},
      {"./foo", "foo", true},
      {"a/b", "a/b/c", true},
      {"a/b", "a", false},
      // * and ? stay inside one path element
      {"*", "anything", true},
      {"*", "dir/file", true},  // the parent "dir" matches
      {"*.go", "main.go", true},
      {"*.go", "cmd/main.go", false},
      {"*/*.go", "cmd/main.go", true},
      {"a*b", "a/b", false},
      {"a*b", "axxb", true},
      {"?", "a", true},
      {"?", "ab", false},
      {"?"
       "?/x",
       "ab/x", true},
      {"a?c", "a/c", false},
      // classes
      {"[abc].txt", "b.txt", true},
      {"[abc].txt", "d.txt", false},
      {"[a-c]x", "bx", true},
      {"[^a-c]x", "dx", true},
      {"[^a-c]x", "ax", false},
      {"[!a]x", "!x", true},  // `!` is not negation in Go's syntax
      {"[!a]x", "bx", false},
      {"[\\]]", "]", true},
      {"[é]", "é", true},
      // escapes
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"a\\?", "a?", true},
      {"\\[x\\]", "[x]", true},
      {"\\d", "7", true},  // Go's regexp gives \d its meaning
      // regexp characters Docker escapes are literal
      {"a.b", "a.b", true},
      {"a.b", "axb", false},
      {"a+(1)|{2}$", "a+(1)|{2}$", true},
      {"*.b$", "x.b$", true},
      {"a]", "a]", true},
      {"a^b", "a^b", true},   // exact: literal
      {"a^*", "a^b", false},  // regexp: ^ is an anchor
      {"^a*", "ab", true},
      // **
      {"**", "x", true},
      {"**", "x/y/z", true},
      {"**/foo", "foo", true},
      {"**/foo", "a/b/foo", true},
      {"**/foo", "a/b/foo/c", true},
      {"**/foo", "afoo", false},
      {"**foo", "afoo", true},  // suffix test
      {"**/*.md", "a/b/c.md", true},
      {"**/*.md", "c.md", true},
      {"**/*.md", "c.mdx", false},
      {"a/**", "a/x/y", true},
      {"a/**", "a", false},
      {"a**", "ab/c", true},  // prefix test
      {"a/**/b", "a/b", true},
      {"a/**/b", "a/x/y/b", true},
      {"a/**/b", "a/xb", false},
      {"a**b", "ax/b", true},
      {"a**b", "axb", false},
      {"a*/**", "ab/c", true},
      {"a*/**", "ab", false},
      {"**/a/**", "x/a/y", true},
      {"**/a/**", "a/y", true},
      {"/abs", "abs", false},  // not through parseDockerignore: "/abs" stays absolute
  };
  for (const auto& c : cases) {
    EXPECT_EQ(excl(matcher({c.pattern}), c.path), c.want) << c.pattern << " vs " << c.path;
  }
}

TEST(Dockerignore, ExceptionsAndOrder) {
  auto m = matcher({"*.md", "!README.md", "docs", "!docs/keep", "docs/keep/tmp"});
  EXPECT_TRUE(excl(m, "CHANGES.md"));
  EXPECT_FALSE(excl(m, "README.md"));
  EXPECT_FALSE(excl(m, "main.go"));
  EXPECT_TRUE(excl(m, "docs"));
  EXPECT_TRUE(excl(m, "docs/a.txt"));
  EXPECT_FALSE(excl(m, "docs/keep"));
  EXPECT_FALSE(excl(m, "docs/keep/x"));
  EXPECT_TRUE(excl(m, "docs/keep/tmp"));
  EXPECT_TRUE(excl(m, "docs/keep/tmp/y"));
  // The last matching pattern wins: an exception before the exclusion has no effect.
  auto late = matcher({"!keep", "*"});
  EXPECT_TRUE(excl(late, "keep"));
  // An exception re-includes through a parent too.
  auto parent = matcher({"a/*/c", "!a"});
  EXPECT_FALSE(excl(parent, "a/b/c"));
  // Paths are cleaned; "." is never excluded.
  auto all = matcher({"*"});
  EXPECT_FALSE(excl(all, "."));
  EXPECT_FALSE(excl(all, "./"));
  EXPECT_TRUE(excl(matcher({"a/b"}), "./a//b/"));
}

TEST(Dockerignore, CompileErrorsAtMatchTime) {
  // filepath.Match accepts these, Go's regexp does not: the error comes when
  // the pattern is tried on the path itself.
  for (const char* p : {"[z-a]", "\\e", "a\\q*"}) {
    auto m = matcher({p});
    auto r = m.excluded("x");
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.status().message(), "syntax error in pattern");
  }
  // Not tried (an exception while nothing is excluded): no error.
  auto skipped = matcher({"!\\e"});
  EXPECT_TRUE(skipped.excluded("x").ok());
}

TEST(Dockerignore, WalkMatchAndDirectoryDescent) {
  auto m = matcher({"dir", "!dir/keep", "*.tmp"});
  IgnoreMatcher::MatchInfo root, dir_info, keep_info, file_info;
  auto dir = m.walkMatch("dir", root, &dir_info);
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(*dir);
  EXPECT_TRUE(m.mustWalkExcludedDir("dir"));
  EXPECT_FALSE(m.mustWalkExcludedDir("di"));
  EXPECT_FALSE(m.mustWalkExcludedDir("other"));
  auto other = m.walkMatch("dir/other", dir_info, &file_info);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(*other);
  auto keep = m.walkMatch("dir/keep", dir_info, &keep_info);
  ASSERT_TRUE(keep.ok());
  EXPECT_FALSE(*keep);
  auto inner = m.walkMatch("dir/keep/a.txt", keep_info, &file_info);
  ASSERT_TRUE(inner.ok());
  EXPECT_FALSE(*inner);
  auto tmp = m.walkMatch("dir/keep/a.tmp", keep_info, &file_info);
  ASSERT_TRUE(tmp.ok());
  EXPECT_FALSE(*tmp);  // "*.tmp" does not cross directories
  EXPECT_TRUE(*m.walkMatch("a.tmp", root, &file_info));

  // "!**/keep" cannot make the walker enter an excluded directory.
  auto deep = matcher({"dir", "!**/keep"});
  EXPECT_FALSE(deep.mustWalkExcludedDir("dir"));
  EXPECT_FALSE(matcher({"dir"}).mustWalkExcludedDir("dir"));
  EXPECT_TRUE(matcher({"a", "!a/b/c"}).mustWalkExcludedDir("a/b"));

  // The walker reuses the parent's results, so it differs from excluded():
  // "!a" matched no parent while nothing was excluded, and is not retried.
  auto diff = matcher({"a/*/c", "!a"});
  IgnoreMatcher::MatchInfo a, ab;
  ASSERT_TRUE(diff.walkMatch("a", root, &a).ok());
  ASSERT_TRUE(diff.walkMatch("a/b", a, &ab).ok());
  EXPECT_TRUE(*diff.walkMatch("a/b/c", ab, &file_info));
  EXPECT_FALSE(excl(diff, "a/b/c"));
  // Without parent results it looks at the parents, like excluded().
  EXPECT_TRUE(*matcher({"dir"}).walkMatch("dir/x/y", root, &file_info));

  IgnoreMatcher::MatchInfo wrong{{true}};
  auto bad = m.walkMatch("x", wrong, &file_info);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "wrong number of values in parentMatched");
}

TEST(Dockerignore, ContextFilesToRemove) {
  EXPECT_TRUE(contextFilesToRemove({}, "Dockerfile").empty());
  EXPECT_TRUE(contextFilesToRemove({"*.go"}, "Dockerfile").empty());
  EXPECT_EQ(contextFilesToRemove({"*"}, "Dockerfile"),
            (std::vector<std::string>{".dockerignore", "Dockerfile"}));
  EXPECT_EQ(contextFilesToRemove({"Dockerfile"}, "Dockerfile"),
            (std::vector<std::string>{"Dockerfile"}));
  EXPECT_EQ(contextFilesToRemove({".dockerignore"}, "Dockerfile"),
            (std::vector<std::string>{".dockerignore"}));
  EXPECT_EQ(contextFilesToRemove({"build"}, "build/Dockerfile.dev"),
            (std::vector<std::string>{"build/Dockerfile.dev"}));
  EXPECT_EQ(contextFilesToRemove({"*", "!Dockerfile"}, "Dockerfile"),
            (std::vector<std::string>{".dockerignore"}));
  // A bad pattern makes dockerd remove nothing.
  EXPECT_TRUE(contextFilesToRemove({"*", "!"}, "Dockerfile").empty());
  EXPECT_TRUE(contextFilesToRemove({"[z-a]", "*"}, "Dockerfile").empty());
  // ... unless the pattern is never tried.
  EXPECT_EQ(contextFilesToRemove({"*", "[z-a]"}, "Dockerfile").size(), 2u);
}

TEST(Dockerignore, PathologicalPatternIsFast) {
  auto m = matcher({"*a*a*a*a*a*a*a*a*b"});
  EXPECT_FALSE(excl(m, std::string(300, 'a')));
  auto d = matcher({"**/**/**/**/**/x"});
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "d/";
  EXPECT_FALSE(excl(d, deep + "y"));
}

}  // namespace
}  // namespace arca::builder
