// The `changes` of docker import/commit. Expected values are what dockerd
// 20.10 produced for the same `docker import -c ...` (inspect .Config).
#include "api/image_changes.h"

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

namespace arca::api {
namespace {

// Applies `changes` to `start` (a JSON object) and returns the resulting
// config as compact JSON, or "ERR: <message>".
std::string apply(const std::vector<std::string>& changes, const std::string& start = "{}") {
  rapidjson::Document d;
  d.Parse(start.c_str());
  Status st = applyChanges(changes, &d, d.GetAllocator());
  if (!st.ok()) {
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.toString();
    return "ERR: " + st.message();
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return sb.GetString();
}

TEST(ImageChanges, NoChangesIsNoOp) {
  EXPECT_EQ(apply({}, R"({"Cmd":["x"]})"), R"({"Cmd":["x"]})");
  EXPECT_EQ(apply({""}), "ERR: file with no instructions");
  EXPECT_EQ(apply({"# comment"}), "ERR: file with no instructions");
}

TEST(ImageChanges, CmdAndEntrypointForms) {
  EXPECT_EQ(apply({"CMD echo hi"}), R"({"Cmd":["/bin/sh","-c","echo hi"]})");
  EXPECT_EQ(apply({R"(CMD ["a","b"])"}), R"({"Cmd":["a","b"]})");
  EXPECT_EQ(apply({R"(CMD [ "a" , "b" ])"}), R"({"Cmd":["a","b"]})");
  EXPECT_EQ(apply({R"(CMD ["a", b])"}), R"({"Cmd":["/bin/sh","-c","[\"a\", b]"]})");
  EXPECT_EQ(apply({R"(CMD ["a\"b"])"}), R"({"Cmd":["a\"b"]})");
  EXPECT_EQ(apply({"CMD ['a']"}), R"({"Cmd":["/bin/sh","-c","['a']"]})");
  EXPECT_EQ(apply({R"(CMD ["a"] extra)"}), R"({"Cmd":["a"]})");
  EXPECT_EQ(apply({"CMD"}), R"({"Cmd":["/bin/sh","-c"]})");
  EXPECT_EQ(apply({"CMD []"}), R"({"Cmd":null})");
  EXPECT_EQ(apply({"cmd  x "}), R"({"Cmd":["/bin/sh","-c","x"]})");
  EXPECT_EQ(apply({"CMD echo $HOME"}), R"({"Cmd":["/bin/sh","-c","echo $HOME"]})");
  EXPECT_EQ(apply({R"(CMD echo "unterminated)"}), R"({"Cmd":["/bin/sh","-c","echo \"unterminated"]})");
  EXPECT_EQ(apply({R"(ENTRYPOINT sh -c "x y")"}), R"({"Entrypoint":["/bin/sh","-c","sh -c \"x y\""]})");
  EXPECT_EQ(apply({"ENTRYPOINT"}), R"({"Entrypoint":null})");
  // A config Shell is used for the shell form.
  EXPECT_EQ(apply({"CMD x"}, R"({"Shell":["/bin/bash","-xc"]})"),
            R"({"Shell":["/bin/bash","-xc"],"Cmd":["/bin/bash","-xc","x"]})");
}

TEST(ImageChanges, EntrypointDropsAnInheritedCmdOnly) {
  EXPECT_EQ(apply({R"(ENTRYPOINT ["b"])"}, R"({"Cmd":["old"]})"), R"({"Cmd":null,"Entrypoint":["b"]})");
  EXPECT_EQ(apply({R"(CMD ["a"])", R"(ENTRYPOINT ["b"])"}), R"({"Cmd":["a"],"Entrypoint":["b"]})");
  EXPECT_EQ(apply({R"(ENTRYPOINT ["b"])", R"(CMD ["a"])"}), R"({"Entrypoint":["b"],"Cmd":["a"]})");
}

TEST(ImageChanges, Env) {
  EXPECT_EQ(apply({R"(ENV a=b c="d e" f=g\ h)"}), R"({"Env":["a=b","c=d e","f=g h"]})");
  EXPECT_EQ(apply({"ENV a b c"}), R"({"Env":["a=b c"]})");
  EXPECT_EQ(apply({R"(ENV "a" "b c")"}), R"({"Env":["a=b c"]})");
  EXPECT_EQ(apply({R"(ENV a "b c")"}), R"({"Env":["a=b c"]})");
  EXPECT_EQ(apply({"ENV A 1", "ENV B=2 A=3"}), R"({"Env":["A=3","B=2"]})");
  EXPECT_EQ(apply({"ENV A=$B"}), R"({"Env":["A="]})");
  EXPECT_EQ(apply({"ENV A=1 B=$A"}), R"({"Env":["A=1","B="]})");
  EXPECT_EQ(apply({"ENV a=$A", "ENV A=1", "ENV b=${A}x"}), R"({"Env":["a=","A=1","b=1x"]})");
  EXPECT_EQ(apply({"ENV a='$x' b=\"$y\""}), R"({"Env":["a=$x","b="]})");
  EXPECT_EQ(apply({"ENV P=80", "ENV x=${P:-5} y=${P:+z} z=${Q:-5} w=${Q:+z}"}),
            R"({"Env":["P=80","x=80","y=z","z=5","w="]})");
  EXPECT_EQ(apply({"ENV a=$"}), R"({"Env":["a=$"]})");
  EXPECT_EQ(apply({"ENV a=${1}"}), R"({"Env":["a="]})");
  EXPECT_EQ(apply({R"(ENV a=\$b)"}), R"({"Env":["a=$b"]})");
  EXPECT_EQ(apply({R"(ENV a="\$b\x")"}), R"({"Env":["a=$b\\x"]})");
  EXPECT_EQ(apply({R"(ENV a=b\)"}), R"({"Env":["a=b"]})");
  EXPECT_EQ(apply({R"(ENV a\ b=c)"}), R"({"Env":["a b=c"]})");
  EXPECT_EQ(apply({"ENV a="}), R"({"Env":["a="]})");
  EXPECT_EQ(apply({"ENV PATH=/x:$PATH"}, R"({"Env":["PATH=/bin"]})"), R"({"Env":["PATH=/x:/bin"]})");
}

TEST(ImageChanges, EnvErrors) {
  EXPECT_EQ(apply({"ENV"}), "ERR: ENV requires at least one argument");
  EXPECT_EQ(apply({"ENV a"}), "ERR: ENV must have two arguments");
  EXPECT_EQ(apply({"ENV a=b c"}),
            R"(ERR: Syntax error - can't find = in "c". Must be of the form: name=value)");
  EXPECT_EQ(apply({"ENV =b"}), "ERR: ENV names can not be blank");
  EXPECT_EQ(apply({R"(ENV a="b)"}),
            R"(ERR: failed to process "\"b": unexpected end of statement while looking for matching double-quote)");
  EXPECT_EQ(apply({"ENV a='x"}),
            R"(ERR: failed to process "'x": unexpected end of statement while looking for matching single-quote)");
  EXPECT_EQ(apply({"ENV ${x:?y}=1"}), R"(ERR: failed to process "${x:?y}": x: y)");
  EXPECT_EQ(apply({"ENV a=${b"}), R"(ERR: failed to process "${b": missing ':' in substitution)");
  EXPECT_EQ(apply({"ENV a=${b:=c}"}), R"(ERR: failed to process "${b:=c}": unsupported modifier (=) in substitution)");
  EXPECT_EQ(apply({"ENV a=${}"}), R"(ERR: failed to process "${}": syntax error: bad substitution)");
}

TEST(ImageChanges, Labels) {
  EXPECT_EQ(apply({R"(LABEL a=b "c d"="e f")"}), R"({"Labels":{"a":"b","c d":"e f"}})");
  EXPECT_EQ(apply({"LABEL a b c"}), R"({"Labels":{"a":"b c"}})");
  EXPECT_EQ(apply({R"(LABEL a="b\"c")"}), R"({"Labels":{"a":"b\"c"}})");
  EXPECT_EQ(apply({"LABEL a=1", "LABEL a=2 b=$a"}), R"({"Labels":{"a":"2","b":""}})");
  EXPECT_EQ(apply({"LABEL x=1"}, R"({"Labels":null})"), R"({"Labels":{"x":"1"}})");
  EXPECT_EQ(apply({"LABEL"}), "ERR: LABEL requires at least one argument");
  EXPECT_EQ(apply({"LABEL a"}), "ERR: LABEL must have two arguments");
  EXPECT_EQ(apply({"LABEL =b"}), "ERR: LABEL names can not be blank");
}

TEST(ImageChanges, Expose) {
  EXPECT_EQ(apply({"EXPOSE 80 443/udp 8000-8001"}),
            R"({"ExposedPorts":{"80/tcp":{},"443/udp":{},"8000/tcp":{},"8001/tcp":{}}})");
  EXPECT_EQ(apply({"EXPOSE 80/TCP 1.2.3.4:90:90 :70 8080/tcp/udp \"60\""}),
            R"({"ExposedPorts":{"80/tcp":{},"90/tcp":{},"70/tcp":{},"8080/tcp":{},"60/tcp":{}}})");
  EXPECT_EQ(apply({"EXPOSE $P"}), R"({})");
  EXPECT_EQ(apply({"ENV A=1", "EXPOSE $A"}), R"({"Env":["A=1"],"ExposedPorts":{"1/tcp":{}}})");
  EXPECT_EQ(apply({"EXPOSE"}), "ERR: EXPOSE requires at least one argument");
  EXPECT_EQ(apply({"EXPOSE 80/xx"}), "ERR: Invalid proto: xx");
  EXPECT_EQ(apply({"EXPOSE abc"}), "ERR: Invalid containerPort: abc");
  EXPECT_EQ(apply({"EXPOSE 70000"}), "ERR: Invalid containerPort: 70000");
  EXPECT_EQ(apply({"EXPOSE 80-79"}), "ERR: Invalid containerPort: 80-79");
  EXPECT_EQ(apply({R"(EXPOSE "80)"}),
            R"(ERR: failed to process "\"80": unexpected end of statement while looking for matching double-quote)");
}

TEST(ImageChanges, VolumeUserWorkdirStopsignal) {
  EXPECT_EQ(apply({"VOLUME /a /b"}), R"({"Volumes":{"/a":{},"/b":{}}})");
  EXPECT_EQ(apply({R"(VOLUME ["/a","/b"])"}), R"({"Volumes":{"/a":{},"/b":{}}})");
  EXPECT_EQ(apply({"VOLUME []"}), "ERR: VOLUME requires at least one argument");
  EXPECT_EQ(apply({R"(VOLUME [""])"}), "ERR: VOLUME specified can not be an empty string");
  EXPECT_EQ(apply({R"(VOLUME /a "/b c")"}),
            R"(ERR: failed to process "\"/b": unexpected end of statement while looking for matching double-quote)");
  EXPECT_EQ(apply({"USER 1000:1000"}), R"({"User":"1000:1000"})");
  EXPECT_EQ(apply({"USER a b"}), R"({"User":"a b"})");
  EXPECT_EQ(apply({"USER $u"}), R"({"User":""})");
  EXPECT_EQ(apply({"USER"}), "ERR: USER requires exactly one argument");
  EXPECT_EQ(apply({"WORKDIR /x y"}), R"({"WorkingDir":"/x y"})");
  EXPECT_EQ(apply({"WORKDIR rel"}), R"({"WorkingDir":"/rel"})");
  EXPECT_EQ(apply({"WORKDIR /a/../b/"}), R"({"WorkingDir":"/a/../b/"})");
  EXPECT_EQ(apply({"WORKDIR /x", "WORKDIR y"}), R"({"WorkingDir":"/x/y"})");
  EXPECT_EQ(apply({"WORKDIR \"\""}), "ERR: cannot normalize nothing");
  EXPECT_EQ(apply({"WORKDIR"}), "ERR: WORKDIR requires exactly one argument");
  EXPECT_EQ(apply({"ENV A=x", "LABEL l=$A", "WORKDIR /$A", "USER $A", "VOLUME /$A"}),
            R"({"Env":["A=x"],"Labels":{"l":"x"},"WorkingDir":"/x","User":"x","Volumes":{"/x":{}}})");
  EXPECT_EQ(apply({"STOPSIGNAL SIGTERM"}), R"({"StopSignal":"SIGTERM"})");
  EXPECT_EQ(apply({"STOPSIGNAL 9"}), R"({"StopSignal":"9"})");
  EXPECT_EQ(apply({"STOPSIGNAL NOPE"}), "ERR: Invalid signal: NOPE");
}

TEST(ImageChanges, OnbuildAndHealthcheck) {
  EXPECT_EQ(apply({"ONBUILD RUN echo hi"}), R"({"OnBuild":["RUN echo hi"]})");
  EXPECT_EQ(apply({"ONBUILD  run   x", "ONBUILD b"}), R"({"OnBuild":["run   x","b"]})");
  EXPECT_EQ(apply({"ONBUILD"}), "ERR: ONBUILD requires at least one argument");
  EXPECT_EQ(apply({"ONBUILD FROM x"}), "ERR: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(apply({"ONBUILD onbuild x"}), "ERR: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(apply({"HEALTHCHECK NONE"}), R"({"Healthcheck":{"Test":["NONE"]}})");
  EXPECT_EQ(apply({"HEALTHCHECK CMD true"}), R"({"Healthcheck":{"Test":["CMD-SHELL","true"]}})");
  EXPECT_EQ(apply({R"(HEALTHCHECK cmd ["a","b"])"}), R"({"Healthcheck":{"Test":["CMD","a","b"]}})");
  EXPECT_EQ(apply({"HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2h --retries=2 CMD curl x"}),
            R"({"Healthcheck":{"Test":["CMD-SHELL","curl x"],"Interval":90000000000,"Timeout":500000000,)"
            R"("StartPeriod":7200000000000,"Retries":2}})");
  EXPECT_EQ(apply({"HEALTHCHECK"}), "ERR: HEALTHCHECK requires at least one argument");
  EXPECT_EQ(apply({"HEALTHCHECK NONE x"}), "ERR: HEALTHCHECK NONE takes no arguments");
  EXPECT_EQ(apply({"HEALTHCHECK FOO"}), R"(ERR: Unknown type "FOO" in HEALTHCHECK (try CMD))");
  EXPECT_EQ(apply({"HEALTHCHECK CMD"}), "ERR: Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(apply({"HEALTHCHECK --foo=1 CMD x"}), "ERR: Unknown flag: foo");
  EXPECT_EQ(apply({"HEALTHCHECK --interval=0s CMD x"}), R"(ERR: Interval "interval" cannot be less than 1ms)");
  EXPECT_EQ(apply({"HEALTHCHECK --timeout=abc CMD x"}), R"(ERR: time: invalid duration "abc")");
  EXPECT_EQ(apply({"HEALTHCHECK --retries=0 CMD x"}), "ERR: --retries must be at least 1 (not 0)");
  EXPECT_EQ(apply({"HEALTHCHECK --retries=x CMD x"}),
            R"(ERR: strconv.ParseInt: parsing "x": invalid syntax)");
}

TEST(ImageChanges, DockerfileSyntaxAndErrorOrder) {
  EXPECT_EQ(apply({"CMD echo a \\\n b"}), R"({"Cmd":["/bin/sh","-c","echo a  b"]})");
  EXPECT_EQ(apply({"ENV a=1\\", "b=2"}), R"({"Env":["a=1b=2"]})");
  EXPECT_EQ(apply({"ENV a=1 \\\n # comment\n b=2"}), R"({"Env":["a=1","b=2"]})");
  EXPECT_EQ(apply({"FOO x"}), "ERR: foo is not a valid change command");
  EXPECT_EQ(apply({"RUN ls"}), "ERR: run is not a valid change command");
  EXPECT_EQ(apply({"CMD --foo x"}), "ERR: Unknown flag: foo");
  // dockerd's order: argument syntax, then unknown instructions, then
  // argument counts, then what applying finds.
  EXPECT_EQ(apply({"ENV", "FOO"}), "ERR: foo is not a valid change command");
  EXPECT_EQ(apply({"EXPOSE", "ENV A=x y"}),
            R"(ERR: Syntax error - can't find = in "y". Must be of the form: name=value)");
  EXPECT_EQ(apply({"EXPOSE xx", "USER"}), "ERR: USER requires exactly one argument");
}

TEST(ImageChanges, FailureLeavesConfigUnchanged) {
  EXPECT_EQ(apply({"ENV A=1", "EXPOSE xx"}, R"({"Env":["B=2"]})"), "ERR: Invalid containerPort: xx");
  rapidjson::Document d;
  d.Parse(R"({"Env":["B=2"]})");
  ASSERT_FALSE(applyChanges({"ENV A=1", "EXPOSE xx"}, &d, d.GetAllocator()).ok());
  EXPECT_EQ(d["Env"].Size(), 1u);
}

TEST(ImageChanges, Words) {
  std::vector<std::string> env = {"A=1", "B=two words"};
  EXPECT_EQ(*processWord(R"(x"$A"'$A'\$A${A})", env), "x1$A$A1");
  EXPECT_EQ(*processWord("${C:-$A-${B}}", env), "1-two words");
  EXPECT_EQ(*processWords("a $B \"c d\" ''", env), (std::vector<std::string>{"a", "two", "words", "c d", ""}));
  EXPECT_FALSE(processWord("${A", env).ok());
}

}  // namespace
}  // namespace arca::api
