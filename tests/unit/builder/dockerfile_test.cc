#include "builder/dockerfile.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace arca::builder {
namespace {

using Strings = std::vector<std::string>;

Dockerfile mustParse(std::string_view text) {
  auto r = parseDockerfile(text);
  EXPECT_TRUE(r.ok()) << r.status().message() << "\n--- in:\n" << text;
  return r.ok() ? *r : Dockerfile{};
}

// The single instruction after "FROM scratch".
Instruction only(std::string_view line) {
  Dockerfile df = mustParse("FROM scratch\n" + std::string(line) + "\n");
  if (df.stages.size() != 1 || df.stages[0].commands.size() != 1) {
    ADD_FAILURE() << "not one instruction: " << line;
    return {};
  }
  return df.stages[0].commands[0];
}

std::string errorOf(std::string_view text, int* line = nullptr) {
  auto r = parseDockerfile(text, "Dockerfile", line);
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

// An instruction error after "FROM scratch" (so on line 2).
std::string instrError(std::string_view line) {
  return errorOf("FROM scratch\n" + std::string(line) + "\n");
}

// ---------------------------------------------------------------------------
// Lines, comments, continuations

TEST(DockerfileTest, MultiStageWithLinesAndCodes) {
  Dockerfile df = mustParse(
      "# syntax=docker/dockerfile:1\n"
      "ARG GO=1.21\n"
      "\n"
      "FROM golang:${GO} AS Build\n"
      "WORKDIR /src\n"
      "COPY . .\n"
      "RUN go build -o /app ./cmd/app\n"
      "\n"
      "FROM alpine:3.19\n"
      "COPY --from=build /app /usr/local/bin/app\n"
      "CMD [\"app\"]\n");
  EXPECT_EQ(df.syntax, "docker/dockerfile:1");
  ASSERT_EQ(df.meta_args.size(), 1u);
  EXPECT_EQ(df.meta_args[0].pairs, (std::vector<KeyValue>{{"GO", "1.21", true}}));
  EXPECT_EQ(df.meta_args[0].start_line, 2);
  ASSERT_EQ(df.stages.size(), 2u);
  EXPECT_EQ(df.stages[0].name, "build");
  EXPECT_EQ(df.stages[0].from.base_name, "golang:${GO}");
  EXPECT_EQ(df.stages[0].from.start_line, 4);
  EXPECT_EQ(df.stages[0].from.code, "FROM golang:${GO} AS Build");
  ASSERT_EQ(df.stages[0].commands.size(), 3u);
  EXPECT_EQ(df.stages[0].commands[2].code, "RUN go build -o /app ./cmd/app");
  EXPECT_EQ(df.stages[0].commands[2].start_line, 7);
  EXPECT_EQ(df.stages[1].name, "");
  EXPECT_EQ(df.stages[1].commands[0].from_flag, "build");
  EXPECT_EQ(df.stages[1].commands[1].cmdline, Strings{"app"});
  EXPECT_EQ(df.stageIndex("BUILD"), 0);
  EXPECT_EQ(df.stageIndex("nope"), -1);
}

TEST(DockerfileTest, ContinuationsJoinAsDockerDoes) {
  Dockerfile df = mustParse(
      "FROM debian\n"
      "RUN apt-get update && \\\n"
      "    apt-get install -y \\\n"
      "      curl \\\n"
      "  # a comment inside is dropped\n"
      "#another\n"
      "      git\n"
      "RUN echo hello  \\  \n"
      "world\n");
  const auto& c = df.stages[0].commands;
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].original, "RUN apt-get update &&     apt-get install -y       curl       git");
  EXPECT_EQ(c[0].cmdline, Strings{"apt-get update &&     apt-get install -y       curl       git"});
  EXPECT_EQ(c[0].start_line, 2);
  EXPECT_EQ(c[0].end_line, 7);
  EXPECT_EQ(c[1].cmdline, Strings{"echo hello  world"});
  EXPECT_EQ(c[1].start_line, 8);
  EXPECT_EQ(c[1].end_line, 9);
  EXPECT_TRUE(df.warnings.empty());
}

TEST(DockerfileTest, BuildkitContinueIndentCases) {
  Dockerfile df = mustParse(
      "FROM ubuntu:14.04\n"
      "\n"
      "RUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n"
      "RUN echo hello  \\\n  world\n"
      "RUN echo hello \\\ngoodbye\\\nfrog\n"
      "RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n"
      "RUN echo hello \\\n# this is a comment\n\n# with a blank line\n\nthis is more\n");
  Strings got;
  for (const auto& c : df.stages[0].commands) got.push_back(c.cmdline.at(0));
  EXPECT_EQ(got, (Strings{"echo hello  world  goodnight    moon  lightning", "echo hello    world",
                          "echo hello goodbyefrog", "echo hi   world  goodnight",
                          "echo hello this is more"}));
  // Empty lines inside a continuation are skipped with dockerd's warning.
  ASSERT_EQ(df.warnings.size(), 2u);
  EXPECT_EQ(df.warnings[0],
            "[WARNING]: Empty continuation line found in:\n    RUN echo hello this is more");
  EXPECT_EQ(df.warnings[1],
            "[WARNING]: Empty continuation lines will become errors in a future release.");
  EXPECT_EQ(df.stages[0].commands.back().start_line, 21);
  EXPECT_EQ(df.stages[0].commands.back().end_line, 26);
}

TEST(DockerfileTest, EscapedEscapeDoesNotContinue) {
  Dockerfile df = mustParse("FROM a\nRUN echo a\\\\\nRUN echo b\n");
  ASSERT_EQ(df.stages[0].commands.size(), 2u);
  EXPECT_EQ(df.stages[0].commands[0].cmdline, Strings{"echo a\\\\"});
}

TEST(DockerfileTest, ContinuationAtEndOfFile) {
  Dockerfile df = mustParse("FROM a\nRUN echo \\\n  x \\\n");
  EXPECT_EQ(df.stages[0].commands[0].cmdline, Strings{"echo   x"});
  EXPECT_EQ(df.stages[0].commands[0].end_line, 3);
}

TEST(DockerfileTest, CrlfBomAndIndentedLines) {
  Dockerfile df =
      mustParse("\xEF\xBB\xBF# escape=`\r\nFROM a\r\n   RUN echo `\r\n  b\r\n\tCMD x\r\n");
  EXPECT_EQ(df.escape, '`');
  const auto& c = df.stages[0].commands;
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].original, "RUN echo   b");
  EXPECT_EQ(c[0].start_line, 3);
  EXPECT_EQ(c[1].cmdline, Strings{"x"});
  EXPECT_EQ(c[1].start_line, 5);
}

TEST(DockerfileTest, CommentsAndEmptyLinesAreSkipped) {
  Dockerfile df = mustParse("# c1\n\n   # indented\nFROM a\n# c2\nRUN x #y\nEXPOSE 80 # no\n");
  EXPECT_EQ(df.stages[0].commands[0].cmdline, Strings{"x #y"});
  EXPECT_EQ(df.stages[0].commands[0].start_line, 6);
  EXPECT_EQ(df.stages[0].commands[1].list, (Strings{"#", "80", "no"}));
  // A "#" after the keyword is no comment either.
  EXPECT_EQ(errorOf("FROM a # not a comment\n"),
            "dockerfile parse error line 1: FROM requires either one or three arguments");
}

// ---------------------------------------------------------------------------
// Parser directives

TEST(DockerfileTest, EscapeBacktickDirective) {
  Dockerfile df = mustParse(
      "# escape=`\n"
      "\n"
      "FROM mcr.microsoft.com/windows/servercore\n"
      "COPY testfile.txt c:\\\n"
      "RUN dir c:\\ `\n"
      "    && echo done\n"
      "ENV GOPATH `\n"
      "\\go\n");
  EXPECT_EQ(df.escape, '`');
  const auto& c = df.stages[0].commands;
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].dest, "c:\\");
  EXPECT_EQ(c[1].cmdline, Strings{"dir c:\\     && echo done"});
  EXPECT_EQ(c[2].pairs, (std::vector<KeyValue>{{"GOPATH", "\\go", true}}));
}

TEST(DockerfileTest, DirectiveKeysAreCaseInsensitiveWithBlanks) {
  Dockerfile df = mustParse("#  ESCAPE  =  `  \n#Syntax=docker/dockerfile:1.4 \nFROM a\n");
  EXPECT_EQ(df.escape, '`');
  EXPECT_EQ(df.syntax, "docker/dockerfile:1.4");
}

TEST(DockerfileTest, DirectivesOnlyBeforeAnythingElse) {
  // After a comment, an empty line or an unknown directive, it is a comment.
  EXPECT_EQ(mustParse("# comment\n# escape=`\nFROM a\nRUN x \\\ny\n").escape, '\\');
  EXPECT_EQ(mustParse("\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(mustParse("# foo=bar\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(mustParse("FROM a\n# escape=`\n").escape, '\\');
  // buildkit's escape-after-comment test file.
  Dockerfile df = mustParse(
      "# Comment here. Should not be looking for the following parser directive.\n"
      "# escape = `\n\nFROM image\nLABEL maintainer foo@bar.com\nENV GOPATH \\\n\\go");
  EXPECT_EQ(df.stages[0].commands[1].pairs, (std::vector<KeyValue>{{"GOPATH", "\\go", true}}));
}

TEST(DockerfileTest, DirectiveErrors) {
  int line = -1;
  EXPECT_EQ(errorOf("# escape=x\nFROM a\n", &line),
            "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\");
  EXPECT_EQ(line, 1);
  EXPECT_EQ(errorOf("# escape=\\\n# escape=`\nFROM a\n", &line),
            "failed to parse Dockerfile: only one escape parser directive can be used");
  EXPECT_EQ(line, 2);
  EXPECT_EQ(errorOf("# syntax=a\n# SYNTAX=b\nFROM a\n"),
            "failed to parse Dockerfile: only one syntax parser directive can be used");
  // (.+?) takes the last blank when only blanks follow "=".
  EXPECT_EQ(errorOf("# escape=  \nFROM a\n"),
            "failed to parse Dockerfile: invalid escape token ' ' does not match ` or \\");
  // "# escape=" with nothing after is no directive.
  EXPECT_EQ(mustParse("# escape=\nFROM a\n").escape, '\\');
}

// ---------------------------------------------------------------------------
// Keywords and flags

TEST(DockerfileTest, KeywordsAreCaseInsensitive) {
  Dockerfile df = mustParse("from busybox as Base\nrUn echo hi\n");
  EXPECT_EQ(df.stages[0].from.keyword, "from");
  EXPECT_EQ(df.stages[0].name, "base");
  const Instruction& run = df.stages[0].commands[0];
  EXPECT_EQ(run.keyword, "rUn");
  EXPECT_EQ(run.name, "run");
  EXPECT_EQ(run.kind, InstructionKind::kRun);
  EXPECT_EQ(run.code, "rUn echo hi");
}

TEST(DockerfileTest, FlagsBeforeArguments) {
  Instruction c = only("COPY --from=builder --chown=1000:1000 --chmod=755 --link src/ /dst/");
  EXPECT_EQ(c.flags, (Strings{"--from=builder", "--chown=1000:1000", "--chmod=755", "--link"}));
  EXPECT_EQ(c.from_flag, "builder");
  EXPECT_EQ(c.chown, "1000:1000");
  EXPECT_EQ(c.chmod, "755");
  EXPECT_TRUE(c.link);
  EXPECT_EQ(c.sources, Strings{"src/"});
  EXPECT_EQ(c.dest, "/dst/");
  // Quotes and backslashes inside flags; "--" ends the flags.
  Instruction q = only("COPY --chown=\"a b\" --chmod=7\\55 -- --x /y");
  EXPECT_EQ(q.flags, (Strings{"--chown=a b", "--chmod=755"}));
  EXPECT_EQ(q.sources, Strings{"--x"});
  EXPECT_EQ(q.chown, "a b");
  Instruction l = only("ADD --link=false a b");
  EXPECT_FALSE(l.link);
}

TEST(DockerfileTest, FlagErrors) {
  EXPECT_EQ(instrError("COPY --foo=bar a b"), "dockerfile parse error line 2: Unknown flag: foo");
  EXPECT_EQ(instrError("ADD --from=x a b"), "dockerfile parse error line 2: Unknown flag: from");
  EXPECT_EQ(instrError("COPY --from a b"),
            "dockerfile parse error line 2: Missing a value on flag: from");
  EXPECT_EQ(instrError("COPY --from=a --from=b a b"),
            "dockerfile parse error line 2: Duplicate flag specified: from");
  EXPECT_EQ(instrError("COPY --link= a b"),
            "dockerfile parse error line 2: Missing a value on flag: link");
  EXPECT_EQ(instrError("COPY --link=yes a b"),
            "dockerfile parse error line 2: Expecting boolean value for flag link, not: yes");
  EXPECT_EQ(instrError("ENV --x=1 A=b"), "dockerfile parse error line 2: Unknown flag: x");
  EXPECT_EQ(instrError("WORKDIR --x /a"), "dockerfile parse error line 2: Unknown flag: x");
  // The argument count is checked before the flags for COPY.
  EXPECT_EQ(instrError("COPY --foo a"),
            "dockerfile parse error line 2: COPY requires at least two arguments, but only one "
            "was provided. Destination could not be determined");
  // STOPSIGNAL and ARG never read their flags.
  EXPECT_EQ(only("STOPSIGNAL --x SIGTERM").value, "SIGTERM");
  EXPECT_EQ(only("ARG --x A").pairs, (std::vector<KeyValue>{{"A", "", false}}));
}

TEST(DockerfileTest, RunFlagsAreRecorded) {
  Instruction r = only(
      "RUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/t "
      "--network=none pip install x");
  EXPECT_EQ(r.mounts, (Strings{"type=cache,target=/root/.cache", "type=tmpfs,target=/t"}));
  EXPECT_EQ(r.network, "none");
  EXPECT_EQ(r.cmdline, Strings{"pip install x"});
  EXPECT_EQ(only("RUN x").network, "default");
  EXPECT_EQ(instrError("RUN --network=bridge x"),
            "dockerfile parse error line 2: invalid network mode \"bridge\"");
  EXPECT_EQ(instrError("RUN --security=insecure x"),
            "dockerfile parse error line 2: Unknown flag: security");
}

// ---------------------------------------------------------------------------
// JSON and shell forms

TEST(DockerfileTest, JsonAndShellForms) {
  Instruction e = only("ENTRYPOINT [\"/bin/sh\", \"-c\"]");
  EXPECT_TRUE(e.json);
  EXPECT_EQ(e.cmdline, (Strings{"/bin/sh", "-c"}));
  Instruction s = only("CMD echo \"$HOME\"  &&  ls");
  EXPECT_FALSE(s.json);
  EXPECT_EQ(s.cmdline, Strings{"echo \"$HOME\"  &&  ls"});
  // buildkit's json test file.
  EXPECT_EQ(only("CMD []").cmdline, Strings{});
  EXPECT_TRUE(only("CMD []").json);
  EXPECT_EQ(only("CMD [\"\"]").cmdline, Strings{""});
  EXPECT_EQ(only("CMD\t[\t\"a\",\t\"b\"\t]\t").cmdline, (Strings{"a", "b"}));
  EXPECT_EQ(
      only("CMD [\"abc 123\", \"\xE2\x99\xA5\", \"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000\"]")
          .cmdline,
      (Strings{"abc 123", "\xE2\x99\xA5", std::string("\" \\ / \b \f \n \r \t \0", 17)}));
  EXPECT_EQ(only("CMD [\"\\ud83d\\ude00\", \"\\ud83d\", \"\\u00e9\"]").cmdline,
            (Strings{"\xF0\x9F\x98\x80", "\xEF\xBF\xBD", "\xC3\xA9"}));
  // Text after the array is ignored, as encoding/json's Decoder does.
  EXPECT_EQ(only("CMD [\"a\"] b").cmdline, Strings{"a"});
  EXPECT_TRUE(only("CMD [\"a\"] b").json);
}

TEST(DockerfileTest, InvalidJsonFallsBackToShellForm) {
  for (const char* arg : {"['a', 'b']", "[\"a\" \"b\"]", "[\"a\",]", "[\"a\"", "[a]", "[\"a\tb\"]",
                          "[\"\\x\"]", "[01]", "{\"a\": 1}"}) {
    Instruction r = only(std::string("RUN ") + arg);
    EXPECT_FALSE(r.json) << arg;
    EXPECT_EQ(r.cmdline, Strings{arg});
  }
  Instruction c = only("COPY [\"a\" \"b\"] /d");
  EXPECT_FALSE(c.json);
  EXPECT_EQ(c.sources, (Strings{"[\"a\"", "\"b\"]"}));
  EXPECT_EQ(c.dest, "/d");
}

TEST(DockerfileTest, JsonArraysMustHoldStrings) {
  const std::string msg =
      "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised of "
      "strings only";
  for (const char* line : {"CMD [1]", "RUN [\"a\", 1]", "COPY [\"a\", null] /x", "VOLUME [[\"a\"]]",
                           "ENTRYPOINT [{\"a\":[1,true]}]", "HEALTHCHECK CMD [\"a\", false]",
                           "ONBUILD CMD [\"a\", 2.5e3]"}) {
    int line_no = 0;
    EXPECT_EQ(errorOf("FROM a\n" + std::string(line), &line_no), msg) << line;
    EXPECT_EQ(line_no, 2);
  }
}

// ---------------------------------------------------------------------------
// ENV, LABEL, ARG

TEST(DockerfileTest, EnvBothFormsKeepQuotesAndEscapes) {
  EXPECT_EQ(only("ENV name value with spaces").pairs,
            (std::vector<KeyValue>{{"name", "value with spaces", true}}));
  EXPECT_EQ(only("ENV name \"quoted value\"").pairs,
            (std::vector<KeyValue>{{"name", "\"quoted value\"", true}}));
  Instruction e = only("ENV A=1 B=\"two words\" C=x\\ y D='q \"s\"' E= F=\"\"");
  EXPECT_EQ(e.pairs, (std::vector<KeyValue>{{"A", "1", true},
                                            {"B", "\"two words\"", true},
                                            {"C", "x\\ y", true},
                                            {"D", "'q \"s\"'", true},
                                            {"E", "", true},
                                            {"F", "\"\"", true}}));
  // buildkit's env test file: single quotes do not escape, double quotes do.
  EXPECT_EQ(only("ENV name='a\\'b'").pairs, (std::vector<KeyValue>{{"name", "'a\\'b'", true}}));
  EXPECT_EQ(only("ENV name=\"a\\\"b\"").pairs,
            (std::vector<KeyValue>{{"name", "\"a\\\"b\"", true}}));
  EXPECT_EQ(only("ENV name=\"''\"").pairs, (std::vector<KeyValue>{{"name", "\"''\"", true}}));
  Dockerfile df = mustParse(
      "FROM a\n"
      "ENV name=value \\\n"
      "    name2=\"value2a \\\n"
      "           value2b\" \\\n"
      "\tname4=\"value4a\\\\nvalue4b\" \\\n");
  EXPECT_EQ(df.stages[0].commands[0].pairs,
            (std::vector<KeyValue>{{"name", "value", true},
                                   {"name2", "\"value2a            value2b\"", true},
                                   {"name4", "\"value4a\\\\nvalue4b\"", true}}));
  // The legacy form splits at the first blank of the raw text.
  EXPECT_EQ(only("ENV \"a b\" c").pairs, (std::vector<KeyValue>{{"\"a", "b\" c", true}}));
  // A "=" inside quotes of the first word still selects the new form.
  EXPECT_EQ(only("ENV \"a=b\"").pairs, (std::vector<KeyValue>{{"\"a", "b\"", true}}));
}

TEST(DockerfileTest, EnvAndLabelErrors) {
  int line = 0;
  EXPECT_EQ(errorOf("FROM a\nRUN x\nENV foo\n", &line),
            "failed to parse Dockerfile: ENV must have two arguments");
  EXPECT_EQ(line, 3);
  EXPECT_EQ(errorOf("FROM a\nLABEL foo\n"),
            "failed to parse Dockerfile: LABEL must have two arguments");
  EXPECT_EQ(errorOf("FROM a\nENV a=b c\n"),
            "failed to parse Dockerfile: Syntax error - can't find = in \"c\". Must be of the "
            "form: name=value");
  EXPECT_EQ(errorOf("FROM a\nLABEL a=b \"c\\\"d\"\n"),
            "failed to parse Dockerfile: Syntax error - can't find = in \"\\\"c\\\\\\\"d\\\"\". "
            "Must be of the form: name=value");
  EXPECT_EQ(instrError("ENV"), "dockerfile parse error line 2: ENV requires at least one argument");
  EXPECT_EQ(instrError("ENV =foo"), "dockerfile parse error line 2: ENV names can not be blank");
  EXPECT_EQ(instrError("LABEL"),
            "dockerfile parse error line 2: LABEL requires at least one argument");
  EXPECT_EQ(instrError("LABEL =x"), "dockerfile parse error line 2: LABEL names can not be blank");
  // A syntax error anywhere wins over an instruction error before it.
  EXPECT_EQ(errorOf("FROM a\nFRO b\nENV x\n"),
            "failed to parse Dockerfile: ENV must have two arguments");
}

TEST(DockerfileTest, LabelPairs) {
  Instruction l = only(
      "LABEL org.opencontainers.image.title=\"My App\" version=1.0 \\\n"
      "      description=\"multi \\\n      line\"");
  EXPECT_EQ(l.pairs, (std::vector<KeyValue>{{"org.opencontainers.image.title", "\"My App\"", true},
                                            {"version", "1.0", true},
                                            {"description", "\"multi       line\"", true}}));
  EXPECT_EQ(
      only("LABEL maintainer Erik \\\\Hollensbe <erik@hollensbe.org>\\\"").pairs,
      (std::vector<KeyValue>{{"maintainer", "Erik \\\\Hollensbe <erik@hollensbe.org>\\\"", true}}));
}

TEST(DockerfileTest, ArgDeclarations) {
  Dockerfile df = mustParse(
      "ARG VERSION=latest\nARG EMPTY= NAME \"Q\"=\"x y\"\nFROM busybox:$VERSION\nARG VERSION\n");
  ASSERT_EQ(df.meta_args.size(), 2u);
  EXPECT_EQ(df.meta_args[1].pairs,
            (std::vector<KeyValue>{
                {"EMPTY", "", true}, {"NAME", "", false}, {"\"Q\"", "\"x y\"", true}}));
  ASSERT_EQ(df.stages[0].commands.size(), 1u);  // an ARG after FROM belongs to the stage
  EXPECT_EQ(df.stages[0].commands[0].kind, InstructionKind::kArg);
  EXPECT_EQ(instrError("ARG"), "dockerfile parse error line 2: ARG requires at least one argument");
  EXPECT_EQ(instrError("ARG =x"), "dockerfile parse error line 2: ARG names can not be blank");
}

// ---------------------------------------------------------------------------
// The other instructions

TEST(DockerfileTest, FromForms) {
  Dockerfile df =
      mustParse("FROM --platform=$BUILDPLATFORM golang:1.21 AS build-env.1\nFROM scratch\n");
  EXPECT_EQ(df.stages[0].from.platform, "$BUILDPLATFORM");
  EXPECT_EQ(df.stages[0].from.base_name, "golang:1.21");
  EXPECT_EQ(df.stages[0].name, "build-env.1");
  EXPECT_EQ(df.stages[1].from.base_name, "scratch");
  EXPECT_EQ(instrError("FROM"),
            "dockerfile parse error line 2: FROM requires either one or three arguments");
  EXPECT_EQ(instrError("FROM a b"),
            "dockerfile parse error line 2: FROM requires either one or three arguments");
  EXPECT_EQ(instrError("FROM a to b"),
            "dockerfile parse error line 2: FROM requires either one or three arguments");
  EXPECT_EQ(instrError("FROM a AS 1st"),
            "dockerfile parse error line 2: invalid name for build stage: \"1st\", name can't "
            "start with a number or contain symbols");
  EXPECT_EQ(instrError("FROM a AS b$c"),
            "dockerfile parse error line 2: invalid name for build stage: \"b$c\", name can't "
            "start with a number or contain symbols");
  EXPECT_EQ(instrError("FROM --plat=x a"), "dockerfile parse error line 2: Unknown flag: plat");
}

TEST(DockerfileTest, CopyAndAdd) {
  Instruction c = only("COPY [\"test file\", \"other\", \"/tmp/dir/\"]");
  EXPECT_TRUE(c.json);
  EXPECT_EQ(c.sources, (Strings{"test file", "other"}));
  EXPECT_EQ(c.dest, "/tmp/dir/");
  Instruction a = only("ADD\t\thttps://example.com/a.tgz  *.txt\t/opt/");
  EXPECT_EQ(a.kind, InstructionKind::kAdd);
  EXPECT_EQ(a.sources, (Strings{"https://example.com/a.tgz", "*.txt"}));
  EXPECT_EQ(a.dest, "/opt/");
  EXPECT_EQ(instrError("ADD a"),
            "dockerfile parse error line 2: ADD requires at least two arguments, but only one was "
            "provided. Destination could not be determined");
  EXPECT_EQ(instrError("COPY"),
            "dockerfile parse error line 2: COPY requires at least two arguments, but only one "
            "was provided. Destination could not be determined");
  EXPECT_EQ(instrError("COPY [\"a\"]"),
            "dockerfile parse error line 2: COPY requires at least two arguments, but only one "
            "was provided. Destination could not be determined");
}

TEST(DockerfileTest, SingleArgumentInstructions) {
  EXPECT_EQ(only("USER app:app").value, "app:app");
  EXPECT_EQ(only("USER a b").value, "a b");  // the rest of the line, as Docker
  EXPECT_EQ(only("WORKDIR /go/src/${PKG}").value, "/go/src/${PKG}");
  EXPECT_EQ(only("STOPSIGNAL SIGQUIT").value, "SIGQUIT");
  Instruction m = only("MAINTAINER Jane Doe <jane@example.com>");
  EXPECT_EQ(m.kind, InstructionKind::kMaintainer);
  EXPECT_EQ(m.value, "Jane Doe <jane@example.com>");
  EXPECT_EQ(instrError("USER"),
            "dockerfile parse error line 2: USER requires exactly one argument");
  EXPECT_EQ(instrError("WORKDIR"),
            "dockerfile parse error line 2: WORKDIR requires exactly one argument");
  EXPECT_EQ(instrError("STOPSIGNAL"),
            "dockerfile parse error line 2: STOPSIGNAL requires exactly one argument");
  EXPECT_EQ(instrError("MAINTAINER"),
            "dockerfile parse error line 2: MAINTAINER requires exactly one argument");
}

TEST(DockerfileTest, ExposeAndVolume) {
  EXPECT_EQ(only("EXPOSE 8080/tcp 443 53/udp ${PORT}").list,
            (Strings{"${PORT}", "443", "53/udp", "8080/tcp"}));
  EXPECT_EQ(only("VOLUME /data /var/log").list, (Strings{"/data", "/var/log"}));
  Instruction v = only("VOLUME [\"/data\", \" /x \"]");
  EXPECT_TRUE(v.json);
  EXPECT_EQ(v.list, (Strings{"/data", "/x"}));
  EXPECT_EQ(instrError("EXPOSE"),
            "dockerfile parse error line 2: EXPOSE requires at least one argument");
  EXPECT_EQ(instrError("VOLUME"),
            "dockerfile parse error line 2: VOLUME requires at least one argument");
  EXPECT_EQ(instrError("VOLUME [\"/a\", \" \"]"),
            "dockerfile parse error line 2: VOLUME specified can not be an empty string");
}

TEST(DockerfileTest, Shell) {
  Instruction s = only("SHELL [\"powershell\", \"-command\"]");
  EXPECT_EQ(s.list, (Strings{"powershell", "-command"}));
  EXPECT_EQ(instrError("SHELL /bin/bash -c"),
            "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(instrError("SHELL []"),
            "dockerfile parse error line 2: SHELL requires at least one argument");
  EXPECT_EQ(instrError("SHELL"),
            "dockerfile parse error line 2: SHELL requires at least one argument");
}

TEST(DockerfileTest, RunCmdEntrypointWithoutArguments) {
  EXPECT_TRUE(only("CMD").cmdline.empty());
  EXPECT_TRUE(only("ENTRYPOINT").cmdline.empty());
  EXPECT_TRUE(only("RUN").cmdline.empty());
}

TEST(DockerfileTest, Healthcheck) {
  Instruction h = only(
      "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=1.5s --retries=3 \\\n"
      "  CMD curl -f http://localhost/ || exit 1");
  ASSERT_TRUE(h.healthcheck.has_value());
  EXPECT_EQ(h.healthcheck->test, (Strings{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}));
  EXPECT_EQ(h.healthcheck->interval_ns, 30'000'000'000);
  EXPECT_EQ(h.healthcheck->timeout_ns, 90'000'000'000);
  EXPECT_EQ(h.healthcheck->start_period_ns, 1'500'000'000);
  EXPECT_EQ(h.healthcheck->retries, 3);
  Instruction j = only("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]");
  EXPECT_EQ(j.healthcheck->test, (Strings{"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(j.healthcheck->interval_ns, 0);
  EXPECT_EQ(only("HEALTHCHECK NONE").healthcheck->test, Strings{"NONE"});
  // NONE reads no flag at all, as dockerd.
  EXPECT_EQ(only("HEALTHCHECK --bogus NONE").healthcheck->test, Strings{"NONE"});
}

TEST(DockerfileTest, HealthcheckErrors) {
  const std::string p = "dockerfile parse error line 2: ";
  EXPECT_EQ(instrError("HEALTHCHECK"), p + "HEALTHCHECK requires at least one argument");
  EXPECT_EQ(instrError("HEALTHCHECK NONE x"), p + "HEALTHCHECK NONE takes no arguments");
  EXPECT_EQ(instrError("HEALTHCHECK CMD"), p + "Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(instrError("HEALTHCHECK CMD []"), p + "Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(instrError("HEALTHCHECK echo hi"),
            p + "Unknown type \"ECHO\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(instrError("HEALTHCHECK --foo=1 CMD x"), p + "Unknown flag: foo");
  // The type ends at a byte Go takes for white space (0xA0 of U+00A0), quoted as %#v.
  EXPECT_EQ(instrError("HEALTHCHECK a\xC2\xA0"
                       "b"),
            p + "Unknown type \"A\\xc2\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(instrError("HEALTHCHECK caf\xC3\xA9\x01 x"),
            p + "Unknown type \"CAF\xC3\xA9\\x01\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(instrError("HEALTHCHECK --interval=abc CMD x"), p + "time: invalid duration \"abc\"");
  EXPECT_EQ(instrError("HEALTHCHECK --timeout=10 CMD x"),
            p + "time: missing unit in duration \"10\"");
  EXPECT_EQ(instrError("HEALTHCHECK --interval=5d CMD x"),
            p + "time: unknown unit \"d\" in duration \"5d\"");
  EXPECT_EQ(instrError("HEALTHCHECK --interval=0s CMD x"),
            p + "Interval \"interval\" cannot be less than 1ms");
  EXPECT_EQ(instrError("HEALTHCHECK --start-period=500us CMD x"),
            p + "Interval \"start-period\" cannot be less than 1ms");
  EXPECT_EQ(instrError("HEALTHCHECK --retries=0 CMD x"),
            p + "--retries must be at least 1 (not 0)");
  EXPECT_EQ(instrError("HEALTHCHECK --retries=-2 CMD x"),
            p + "--retries must be at least 1 (not -2)");
  EXPECT_EQ(instrError("HEALTHCHECK --retries=x CMD x"),
            p + "strconv.ParseInt: parsing \"x\": invalid syntax");
  EXPECT_EQ(instrError("HEALTHCHECK --retries=3000000000 CMD x"),
            p + "strconv.ParseInt: parsing \"3000000000\": value out of range");
}

TEST(DockerfileTest, GoDurations) {
  EXPECT_EQ(*parseGoDuration("0"), 0);
  EXPECT_EQ(*parseGoDuration("1h2m3.5s"), 3723'500'000'000);
  EXPECT_EQ(*parseGoDuration("-1.5h"), -5400'000'000'000);
  EXPECT_EQ(*parseGoDuration(".5ms"), 500'000);
  EXPECT_EQ(*parseGoDuration("1\xC2\xB5s"), 1000);
  EXPECT_EQ(*parseGoDuration("300ns"), 300);
  EXPECT_EQ(parseGoDuration("").status().message(), "time: invalid duration \"\"");
  EXPECT_EQ(parseGoDuration(".s").status().message(), "time: invalid duration \".s\"");
  EXPECT_EQ(parseGoDuration("1x\xC3\xA9").status().message(),
            "time: unknown unit \"x\\xc3\\xa9\" in duration \"1x\\xc3\\xa9\"");
  EXPECT_EQ(parseGoDuration("9999999999h").status().message(),
            "time: invalid duration \"9999999999h\"");
}

TEST(DockerfileTest, Onbuild) {
  Instruction o = only("ONBUILD   COPY --chown=app . /app/src  ");
  EXPECT_EQ(o.kind, InstructionKind::kOnbuild);
  EXPECT_EQ(o.onbuild_expression, "COPY --chown=app . /app/src  ");
  EXPECT_EQ(o.code, "ONBUILD   COPY --chown=app . /app/src");
  ASSERT_EQ(o.onbuild.size(), 1u);
  EXPECT_EQ(o.onbuild[0].kind, InstructionKind::kCopy);
  EXPECT_EQ(o.onbuild[0].flags, Strings{"--chown=app"});
  EXPECT_EQ(o.onbuild[0].args, (Strings{".", "/app/src"}));
  EXPECT_EQ(o.args, (Strings{"copy", ".", "/app/src"}));
  Instruction r = only("onbuild run [\"make\"]");
  EXPECT_EQ(r.onbuild_expression, "run [\"make\"]");
  EXPECT_TRUE(r.onbuild[0].json);
  // An unknown trigger is only refused when it fires.
  EXPECT_EQ(only("ONBUILD FOO bar").onbuild[0].kind, InstructionKind::kUnknown);
  const std::string p = "dockerfile parse error line 2: ";
  EXPECT_EQ(instrError("ONBUILD"), p + "ONBUILD requires at least one argument");
  EXPECT_EQ(instrError("ONBUILD ONBUILD RUN x"),
            p + "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(instrError("ONBUILD from busybox"), p + "FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(instrError("ONBUILD MAINTAINER me"),
            p + "MAINTAINER isn't allowed as an ONBUILD trigger");
  // The trigger's syntax is checked with the rest of the file.
  EXPECT_EQ(errorOf("FROM a\nONBUILD ENV x\n"),
            "failed to parse Dockerfile: ENV must have two arguments");
}

TEST(DockerfileTest, TriggersParsedWhenTheyFire) {
  auto t = parseTrigger("RUN echo hi");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->cmdline, Strings{"echo hi"});
  EXPECT_EQ(t->code, "RUN echo hi");
  EXPECT_EQ(parseTrigger("FOO x").status().message(), "unknown instruction: FOO");
  EXPECT_EQ(parseTrigger("COPY a").status().message(),
            "COPY requires at least two arguments, but only one was provided. Destination could "
            "not be determined");
  EXPECT_EQ(parseTrigger("FROM a").status().message(), "*instructions.Stage is not a command type");
  EXPECT_EQ(parseTrigger("ENV a").status().message(), "ENV must have two arguments");
  EXPECT_EQ(parseTrigger("RUN a\nRUN b").status().message(),
            "onbuild trigger should be a single expression");
}

// ---------------------------------------------------------------------------
// File-level errors and stages

TEST(DockerfileTest, EmptyAndInstructionlessFiles) {
  int line = -1;
  EXPECT_EQ(errorOf("", &line), "the Dockerfile (Dockerfile) cannot be empty");
  EXPECT_EQ(line, 0);
  auto named = parseDockerfile("", "build/Dockerfile.dev");
  EXPECT_EQ(named.status().message(), "the Dockerfile (build/Dockerfile.dev) cannot be empty");
  EXPECT_EQ(errorOf("\n\n# only comments\n", &line),
            "failed to parse Dockerfile: file with no instructions");
  EXPECT_EQ(line, 3);
  EXPECT_EQ(errorOf("\xEF\xBB\xBF"), "failed to parse Dockerfile: file with no instructions");
  EXPECT_EQ(parseDockerfile("ENV x", "df").status().message(),
            "failed to parse df: ENV must have two arguments");
}

TEST(DockerfileTest, UnknownInstruction) {
  int line = 0;
  EXPECT_EQ(errorOf("FROM busybox\n\nFRO busybox\n", &line),
            "dockerfile parse error line 3: unknown instruction: FRO");
  EXPECT_EQ(line, 3);
  EXPECT_EQ(errorOf("FROM a\nrun x\ncopy-x a b\n"),
            "dockerfile parse error line 3: unknown instruction: COPY-X");
  // A lone escape line makes an empty keyword, as dockerd.
  EXPECT_EQ(errorOf("FROM a\n\\\n"), "dockerfile parse error line 2: unknown instruction: ");
  // The line is the first line of a continued instruction.
  EXPECT_EQ(errorOf("FROM a\nRUNN a \\\n b\n"),
            "dockerfile parse error line 2: unknown instruction: RUNN");
}

TEST(DockerfileTest, NoBuildStage) {
  int line = 0;
  EXPECT_EQ(errorOf("ARG A\nRUN echo\nFROM a\n", &line), "no build stage in current context");
  EXPECT_EQ(line, 2);
  // Instructions are checked in order: the earlier problem wins.
  EXPECT_EQ(errorOf("ENV a=b\nFRO x\n"), "no build stage in current context");
  EXPECT_EQ(errorOf("FRO x\nENV a=b\n"), "dockerfile parse error line 1: unknown instruction: FRO");
  // Only ARGs: no stage, no error (dockerd then says no image was generated).
  Dockerfile df = mustParse("ARG A=1\n");
  EXPECT_TRUE(df.stages.empty());
  EXPECT_EQ(*targetStageIndex(df, ""), -1);
  EXPECT_TRUE(targetInstructions(df, "")->size() == 1);
}

TEST(DockerfileTest, Targets) {
  Dockerfile df = mustParse(
      "ARG BASE=alpine\n"
      "FROM $BASE AS deps\nRUN a\n"
      "FROM deps AS Builder\nRUN b\nRUN c\n"
      "FROM scratch\nCOPY --from=builder /x /x\n");
  EXPECT_EQ(*targetStageIndex(df, ""), 2);
  EXPECT_EQ(*targetStageIndex(df, "BUILDER"), 1);
  EXPECT_EQ(targetStageIndex(df, "test").status().message(),
            "failed to reach build target test in Dockerfile");
  auto steps = targetInstructions(df, "builder");
  ASSERT_TRUE(steps.ok());
  Strings codes;
  for (const Instruction* i : *steps) codes.push_back(i->code);
  EXPECT_EQ(codes, (Strings{"ARG BASE=alpine", "FROM $BASE AS deps", "RUN a",
                            "FROM deps AS Builder", "RUN b", "RUN c"}));
  EXPECT_EQ(targetInstructions(df, "")->size(), 8u);
  EXPECT_EQ(targetInstructions(df, "nope").status().message(),
            "failed to reach build target nope in Dockerfile");
}

TEST(DockerfileTest, LabelOption) {
  Instruction l = labelOption("com.example.v", "1 2");
  EXPECT_EQ(l.code, "LABEL com.example.v=1 2");
  EXPECT_EQ(l.pairs, (std::vector<KeyValue>{{"com.example.v", "1 2", true}}));
  EXPECT_TRUE(l.no_expand);
  EXPECT_EQ(l.kind, InstructionKind::kLabel);
}

TEST(DockerfileTest, OverlongLine) {
  std::string big = "FROM a\nRUN " + std::string(70000, 'x') + "\n";
  EXPECT_EQ(errorOf(big),
            "failed to parse Dockerfile: dockerfile line greater than max allowed "
            "size of 65535");
  EXPECT_EQ(errorOf(std::string(70000, '#')),
            "failed to parse Dockerfile: file with no instructions");
  std::string fits = "FROM a\nRUN " + std::string(65531, 'x') + "\n";  // 65536 bytes with "\n"
  EXPECT_TRUE(parseDockerfile(fits).ok());
}

TEST(DockerfileTest, UnicodeWhiteSpaceAndInvalidUtf8AsGo) {
  // strings.TrimSpace trims U+00A0 around the line; the keyword split does not.
  Dockerfile df = mustParse("FROM a\n\xC2\xA0RUN x\xC2\xA0\n");
  EXPECT_EQ(df.stages[0].commands[0].cmdline, Strings{"x"});
  EXPECT_EQ(errorOf("FROM a\nRUN\xC2\xA0x\n"),
            "dockerfile parse error line 2: unknown instruction: RUN\xC2\xA0X");
  // parseWords splits at U+00A0 and turns invalid UTF-8 into U+FFFD.
  EXPECT_EQ(only("ENV a=1\xC2\xA0"
                 "b=\xFF")
                .pairs,
            (std::vector<KeyValue>{{"a", "1", true}, {"b", "\xEF\xBF\xBD", true}}));
}

}  // namespace
}  // namespace arca::builder
