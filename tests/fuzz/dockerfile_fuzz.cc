// libFuzzer: the classic builder's parsers of client input (issue #7): the
// Dockerfile (directives, continuations, every instruction's arguments), the
// word expansion applied to them, ONBUILD triggers and .dockerignore
// patterns. Input: "<kind byte><text>".
#include <cstddef>
#include <cstdint>
#include <string>

#include "builder/dockerfile.h"
#include "builder/dockerignore.h"
#include "builder/shell_lex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto df = arca::builder::parseDockerfile(s);
      if (!df.ok()) break;
      auto steps = arca::builder::targetInstructions(*df, "");
      if (!steps.ok()) break;
      arca::builder::ShellLex lex(df->escape);
      arca::builder::ShellEnv env;
      env.env = {"A=1", "B=two words", "EMPTY="};
      for (const auto* ins : *steps) {
        for (const auto& a : ins->args) (void)lex.processWords(a, env);
        for (const auto& kv : ins->pairs) (void)lex.processWord(kv.value, env);
      }
      break;
    }
    case 1: {
      arca::builder::ShellEnv env;
      env.env = {"V=x", "P=*.go"};
      (void)arca::builder::ShellLex('\\').process(s, env);
      (void)arca::builder::ShellLex('`').process(s, env);
      break;
    }
    case 2:
      (void)arca::builder::parseTrigger(s);
      break;
    default: {
      auto nl = s.find('\n');
      auto patterns = arca::builder::parseDockerignore(s.substr(0, nl));
      if (!patterns.ok()) break;
      auto m = arca::builder::IgnoreMatcher::create(*patterns);
      if (m.ok() && nl != std::string::npos) (void)m->excluded(s.substr(nl + 1));
      (void)arca::builder::contextFilesToRemove(*patterns, "Dockerfile");
      break;
    }
  }
  return 0;
}
