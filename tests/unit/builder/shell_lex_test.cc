#include "builder/shell_lex.h"

#include <gtest/gtest.h>

namespace arca::builder {
namespace {

const char kErr[] = "\x01ERROR";  // marks an expected failure in the tables

ShellEnv testEnv() {
  return ShellEnv{{"HOME=/root", "SH=bash", "EMPTY=", "SP=a  b", "LEAD=  x y", "KO=한글", "NOEQ",
                   "DUP=first", "DUP=second"},
                  {}};
}

struct Case {
  const char* in;
  const char* out;  // kErr: must fail
};

void runTable(const ShellLex& lex, const std::vector<Case>& cases) {
  ShellEnv env = testEnv();
  for (const auto& c : cases) {
    auto r = lex.processWord(c.in, env);
    if (std::string(c.out) == kErr) {
      EXPECT_FALSE(r.ok()) << c.in << " gave " << (r.ok() ? *r : "");
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().toString();
      EXPECT_EQ(*r, c.out) << c.in;
    }
  }
}

TEST(ShellLex, QuotesAndEscapes) {
  runTable(ShellLex('\\'),
           {
               {"plain", "plain"},     {"it's'x'", kErr},          {"a'b c'd", "ab cd"},
               {"a\\'b", "a'b"},       {"a\\\\'b", kErr},          {"x\\ty", "xty"},
               {"\"x\\ty\"", "x\\ty"}, {"\"x\\\\ty\"", "x\\ty"},   {"'x\\ty'", "x\\ty"},
               {"trail\\", "trail"},   {"trail\\\\", "trail\\"},   {"\"open", kErr},
               {"\"open\\\"", kErr},   {"\"it's\"", "it's"},       {"'open", kErr},
               {"'back\\'", "back\\"}, {"\"''\"", "''"},           {"'\"q\"'", "\"q\""},
               {"\"a\\\"b\"", "a\"b"}, {"\"a\\$HOME\"", "a$HOME"}, {"\"a\\xb\"", "a\\xb"},
               {"\"a\\", kErr},        {"한'글'", "한글"},         {"<<EOF", "<<EOF"},
               {"a << b", "a << b"},
           });
}

TEST(ShellLex, SimpleVariables) {
  runTable(ShellLex('\\'), {
                               {"$HOME", "/root"},
                               {"x$HOME.y", "x/root.y"},
                               {"x${HOME}y", "x/rooty"},
                               {"$home", ""},  // names are case-sensitive on Linux
                               {"x$UNSET.", "x."},
                               {"$.", "$."},
                               {"a$", "a$"},
                               {"a$ b", "a$ b"},
                               {"\\$HOME", "$HOME"},
                               {"\\\\$HOME", "\\/root"},
                               {"\"$HOME\"", "/root"},
                               {"\"\\\\$HOME\"", "\\/root"},
                               {"'$HOME'", "$HOME"},
                               {"'\\$HOME'", "\\$HOME"},
                               {"\"x'$HOME'\"", "x'/root'"},
                               {"\\${}", "${}"},
                               {"$KO!", "한글!"},
                               {"$NOEQ|", "|"},
                               {"$DUP", "second"},
                               {"${HOME}}", "/root}"},
                               // positional and special parameters are never set
                               {"$1x", "x"},
                               {"$123x", "x"},
                               {"${007}y", "y"},
                               {"$@@", "@"},
                               {"a$-b", "ab"},
                               {"$$", ""},
                               {"${#}", ""},
                               {"${?:-q}", "q"},
                               {"${0:+w}", ""},
                           });
}

TEST(ShellLex, Modifiers) {
  runTable(ShellLex('\\'), {
                               {"${UNSET:-def}", "def"},
                               {"${HOME:-def}", "/root"},
                               {"${EMPTY:-def}", "def"},
                               {"${EMPTY-def}", ""},
                               {"${UNSET-def}", "def"},
                               {"${UNSET:+alt}", ""},
                               {"${HOME:+alt}", "alt"},
                               {"${EMPTY:+alt}", ""},
                               {"${EMPTY+alt}", "alt"},
                               {"${UNSET+alt}", ""},
                               {"${HOME?}", "/root"},
                               {"${HOME:?}", "/root"},
                               {"${EMPTY?}", ""},
                               {"${UNSET:-$HOME}", "/root"},
                               {"${UNSET:-${HOME:-x}}", "/root"},
                               {"${UNSET:-${ALSO:-deep}}", "deep"},
                               {"${HOME:+${SH}}", "bash"},
                               {"${HOME:+${UNSET}}", ""},
                               {"${HOME:+$HOME:}", "/root:"},
                               {"${UNSET:-\\$HOME:}", "$HOME:"},
                               {"${UNSET:-\\${HOME}z}", "${HOMEz}"},
                               {"${UNSET:-a b {c}", "a b {c"},
                               {"${UNSET:-'}'}", "}"},
                               {"${UNSET:-\"x y\"}", "x y"},
                               {"${UNSET:-def}}", "def}"},
                           });
}

TEST(ShellLex, TrimAndReplace) {
  ShellEnv env{
      {"P=/a/b/c.tar.gz", "S=xxyy", "Q=??y", "U=http://h.de/x", "N=\\*/", "G=/f*/*/*.t", "NL=a\nb"},
      {}};
  ShellLex lex;
  std::vector<Case> cases = {
      {"${P#*/}", "a/b/c.tar.gz"},
      {"${P##*/}", "c.tar.gz"},
      {"${P%.*}", "/a/b/c.tar"},
      {"${P%%.*}", "/a/b/c"},
      {"${S#*x*y}", "y"},
      {"${S##*x}", "yy"},
      {"${S#*}", "xxyy"},
      {"${S#}", "xxyy"},
      {"${S%}", "xxyy"},
      {"${S%y}", "xxy"},
      {"${S%%y*}", "xx"},
      {"${S#z}", "xxyy"},
      {"${Q#?\\?}", "y"},
      {"${Q#\\?}", "?y"},
      {"${UNSET#x}", ""},
      {"${S#\"x\"}", "xyy"},
      {"${NL#a?}", "a\nb"},  // ? does not match a newline
      {"${S/x/Z}", "Zxyy"},
      {"${S//x/Z}", "ZZyy"},
      {"${S//?/-}", "----"},
      {"${S/*/-}", "-"},
      {"${S//}", kErr},
      {"${S//x}", kErr},
      {"${S///}", "xxyy"},
      {"${S/$EMPTY/w}", "wxxyy"},
      {"${S///w}", "wxwxwywyw"},
      {"${U/http:\\/\\//https:\\/\\/}", "https:\\/\\/h.de/x"},
      {"${U/http:\\/\\//https://}", "https://h.de/x"},
      {"${G/$N/.}", "/f.*/*.t"},
      {"${G//$N/.}", "/f..*.t"},
      {"${S//x/\\$0\\$0}", "\\x\\x\\x\\xyy"},
      {"${S/x/\\$0}", "\\$0xyy"},
      {"${S//x/$}", "$$yy"},
      {"${S#\\x}", kErr},
      {"${S:#x}", kErr},
      {"${S:%x}", kErr},
  };
  for (const auto& c : cases) {
    auto r = lex.processWord(c.in, env);
    if (std::string(c.out) == kErr) {
      EXPECT_FALSE(r.ok()) << c.in;
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().toString();
      EXPECT_EQ(*r, c.out) << c.in;
    }
  }
}

TEST(ShellLex, ErrorTexts) {
  ShellLex lex;
  ShellEnv env = testEnv();
  std::vector<std::pair<const char*, const char*>> cases = {
      {"${", "failed to process \"${\": syntax error: missing '}'"},
      {"a${}", "failed to process \"a${}\": syntax error: bad substitution"},
      {"${{x}", "failed to process \"${{x}\": syntax error: bad substitution"},
      {"${:-x}", "failed to process \"${:-x}\": syntax error: bad substitution"},
      {"${X:-abc", "failed to process \"${X:-abc\": syntax error: missing '}'"},
      {"${X:-a ${Y}", "failed to process \"${X:-a ${Y}\": syntax error: missing '}'"},
      {"${X:-\"a}", "failed to process \"${X:-\\\"a}\": syntax error: missing '}'"},
      {"${X", "failed to process \"${X\": unsupported modifier (\xEF\xBF\xBD) in substitution"},
      {"${X:", "failed to process \"${X:\": syntax error: missing '}'"},
      {"${.}", "failed to process \"${.}\": unsupported modifier (.) in substitution"},
      {"${X:=1}", "failed to process \"${X:=1}\": unsupported modifier (:=) in substitution"},
      {"${X=1}", "failed to process \"${X=1}\": unsupported modifier (=) in substitution"},
      {"${X:Y}", "failed to process \"${X:Y}\": unsupported modifier (:Y) in substitution"},
      {"${X:%y}", "failed to process \"${X:%y}\": unsupported modifier (:%) in substitution"},
      {"${X:##}", "failed to process \"${X:##}\": unsupported modifier (:#) in substitution"},
      {"${X:/a/b}", "failed to process \"${X:/a/b}\": unsupported modifier (:/) in substitution"},
      {"${X/a}", "failed to process \"${X/a}\": syntax error: missing '/' in ${}"},
      {"${X/a/b", "failed to process \"${X/a/b\": syntax error: missing '}'"},
      {"${X?}", "failed to process \"${X?}\": X: is not allowed to be unset"},
      {"${X:?}", "failed to process \"${X:?}\": X: is not allowed to be unset"},
      {"${EMPTY:?}", "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty"},
      {"${X?need $SH}", "failed to process \"${X?need $SH}\": X: need bash"},
      {"${EMPTY:?no $SH}", "failed to process \"${EMPTY:?no $SH}\": EMPTY: no bash"},
      {"${HOME#\\a}",
       "failed to process \"${HOME#\\\\a}\": invalid pattern (\\a) in substitution: invalid "
       "escape '\\a'"},
      {"'x",
       "failed to process \"'x\": unexpected end of statement while looking for matching "
       "single-quote"},
      {"\"x",
       "failed to process \"\\\"x\": unexpected end of statement while looking for "
       "matching double-quote"},
      {"a\tb'",
       "failed to process \"a\\tb'\": unexpected end of statement while looking for "
       "matching single-quote"},
  };
  for (const auto& [in, msg] : cases) {
    auto r = lex.processWord(in, env);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), msg) << in;
  }
}

TEST(ShellLex, BacktickEscape) {
  runTable(ShellLex('`'), {
                              {"C:\\path\\to", "C:\\path\\to"},
                              {"a`$HOME", "a$HOME"},
                              {"a``b", "a`b"},
                              {"a`", "a"},
                              {"a` b", "a b"},
                              {"\\$HOME", "\\/root"},
                              {"\"a`\"b\"", "a\"b"},
                              {"\"a`$HOME\"", "a$HOME"},
                              {"\"a``b\"", "a`b"},
                              {"\"a`xb\"", "a`xb"},
                              {"\"a\\\"", "a\\"},
                              {"'a`b'", "a`b"},
                              {"${UNSET:-C:\\x}", "C:\\x"},
                              {"${UNSET:-`}}", "}"},
                              // in #, % and / patterns the backslash still escapes
                              {"${HOME#\\/}", "root"},
                          });
}

TEST(ShellLex, ProcessWordsSplitting) {
  ShellLex lex;
  ShellEnv env{{"SP=abc  def", "LEAD=  ab c", "TRAIL=ab c   ", "P=80 443/udp"}, {}};
  std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
      {"hello", {"hello"}},
      {"one  two\tthree", {"one", "two", "three"}},
      {"  padded  ", {"padded"}},
      {"x${SP}y", {"xabc", "defy"}},
      {"x\"${SP}\"y", {"xabc  defy"}},
      {"x \"${SP}\"y", {"x", "abc  defy"}},
      {"x${LEAD}z", {"x", "ab", "cz"}},
      {"x\"${LEAD}\" z", {"x  ab c", "z"}},
      {"x${TRAIL}", {"xab", "c"}},
      {"x${TRAIL}d", {"xab", "c", "d"}},
      {"x\"${TRAIL}\"d", {"xab c   d"}},
      {"a\\ b", {"a b"}},
      {"a\\\" b", {"a\"", "b"}},
      {"a' b '", {"a b "}},
      {"a'$P'", {"a$P"}},
      {"$P", {"80", "443/udp"}},
      {"\"\"", {}},
      {"a \"\" b", {"a", "b"}},
      {"${UNSET}", {}},
      {"a << b", {"a", "<< b"}},
      {"x${UNSET:-y z}", {"xy", "z"}},  // Docker >= 27.1 would give {"y", "z"} (see header)
  };
  for (const auto& [in, want] : cases) {
    auto r = lex.processWords(in, env);
    ASSERT_TRUE(r.ok()) << in << ": " << r.status().toString();
    EXPECT_EQ(*r, want) << in;
  }
  EXPECT_FALSE(lex.processWords("a'b", env).ok());
}

TEST(ShellLex, ReferencedNames) {
  ShellLex lex;
  ShellEnv env{{"FOO=1", "BAR="}, {}};
  auto r = lex.process("$FOO ${BAR:-$BAZ} ${NOPE-x} '$SKIPPED' \\$ALSO", env);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->value, "1  x $SKIPPED $ALSO");
  EXPECT_EQ(r->matched, (std::set<std::string>{"BAR", "FOO"}));
  EXPECT_EQ(r->unmatched, (std::set<std::string>{"BAZ", "NOPE"}));
  // The word of a modifier is expanded (and its names recorded) even when
  // the variable makes it unnecessary.
  r = lex.process("${FOO:-$OTHER}", env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, "1");
  EXPECT_EQ(r->unmatched, (std::set<std::string>{"OTHER"}));
  r = lex.process("$1${@}", env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->unmatched, (std::set<std::string>{"1", "@"}));
}

TEST(ShellLex, BuildArgsUnderEnv) {
  ShellLex lex;
  ShellEnv env{{"A=env", "C=env"}, [](std::string_view n) -> std::optional<std::string> {
                 if (n == "A" || n == "B") return std::string("arg");
                 if (n == "E") return std::string();
                 return std::nullopt;
               }};
  EXPECT_EQ(*lex.processWord("$A/$B/$C/${E-unset}/${D-unset}", env), "env/arg/env//unset");
  auto r = lex.process("$B$D", env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matched, (std::set<std::string>{"B"}));
  EXPECT_EQ(r->unmatched, (std::set<std::string>{"D"}));
  EXPECT_EQ(env.lookup("C"), "env");
  EXPECT_EQ(env.lookup("Z"), std::nullopt);
}

TEST(ShellLex, Utf8AndBom) {
  ShellLex lex;
  ShellEnv env{{"é=accent", "V=x"}, {}};
  EXPECT_EQ(*lex.processWord("$é", env), "accent");
  EXPECT_EQ(*lex.processWord("\xEF\xBB\xBF$V", env), "x");     // a leading BOM is skipped
  EXPECT_EQ(*lex.processWord("a\xFF", env), "a\xEF\xBF\xBD");  // invalid bytes become U+FFFD
  EXPECT_EQ(*lex.processWords("a\xC2\xA0"
                              "b",
                              env),
            (std::vector<std::string>{"a", "b"}));
}

TEST(ShellLex, GoQuote) {
  EXPECT_EQ(goQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(goQuote("\t\n\r\a\b\f\v"), "\"\\t\\n\\r\\a\\b\\f\\v\"");
  EXPECT_EQ(goQuote(std::string("\x00\x7f", 2)), "\"\\x00\\x7f\"");
  EXPECT_EQ(goQuote("\xff"), "\"\\xff\"");
  EXPECT_EQ(goQuote("한글 é"), "\"한글 é\"");
  EXPECT_EQ(goQuote("\xC2\xA0"), "\"\\u00a0\"");
}

TEST(ShellLex, PathologicalPatternIsFast) {
  ShellLex lex;
  ShellEnv env{{"V=" + std::string(500, 'a')}, {}};
  auto r = lex.processWord("${V##*a*a*a*a*a*a*b}", env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 500u);
}

}  // namespace
}  // namespace arca::builder
