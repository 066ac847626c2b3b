// The logger's two formats: JSON lines that parse back whatever bytes a message carries, and
// the text format people read.
#include "shared/util/log.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace faultline;

namespace {

// A minimal strict JSON string reader (shared_tests does not link a JSON library): returns the
// decoded value of the string starting at text[*pos] == '"' and moves *pos past it. Fails the
// test on anything RFC 8259 forbids inside a string (raw control characters, bad escapes).
std::string readJsonString(const std::string& text, std::size_t* pos) {
  REQUIRE(text[*pos] == '"');
  std::string out;
  std::size_t i = *pos + 1;
  for (;;) {
    REQUIRE(i < text.size());
    auto c = static_cast<unsigned char>(text[i]);
    REQUIRE(c >= 0x20);
    if (c == '"') {
      *pos = i + 1;
      return out;
    }
    if (c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    REQUIRE(i + 1 < text.size());
    char e = text[i + 1];
    i += 2;
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        REQUIRE(i + 4 <= text.size());
        unsigned code = std::stoul(text.substr(i, 4), nullptr, 16);
        REQUIRE(code < 0x80);  // the logger only escapes ASCII control characters
        out += static_cast<char>(code);
        i += 4;
        break;
      }
      default: FAIL("bad escape \\" << e);
    }
  }
}

/// Parses one log line `{"k":"v",...,"fields":{"k":"v",...}}\n` into key → value (fields as
/// "fields.<key>"), checking the whole line is consumed.
std::map<std::string, std::string> parseLine(const std::string& line) {
  REQUIRE(!line.empty());
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);  // exactly one line
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  REQUIRE(line[pos++] == '{');
  std::string prefix;
  for (;;) {
    std::string key = readJsonString(line, &pos);
    REQUIRE(line[pos++] == ':');
    if (line[pos] == '{') {
      REQUIRE(key == "fields");
      ++pos;
      prefix = "fields.";
      if (line[pos] == '}') {
        ++pos;
        prefix.clear();
      } else {
        continue;
      }
    } else {
      out[prefix + key] = readJsonString(line, &pos);
      if (line[pos] == '}' && !prefix.empty()) {
        ++pos;
        prefix.clear();
      }
    }
    if (line[pos] == ',') {
      ++pos;
      continue;
    }
    REQUIRE(line[pos++] == '}');
    break;
  }
  REQUIRE(pos == line.size() - 1);
  return out;
}

}  // namespace

TEST_CASE("log json: one object per line with ts, level, component, msg and fields") {
  std::string line = log::formatLine(log::Format::Json, 1'700'000'000'123'000'000, log::Level::Warn,
                                     "serve", "listening", {{"port", "7070"}, {"tls", "on"}});
  auto parsed = parseLine(line);
  CHECK(parsed["ts"] == "2023-11-14T22:13:20.123Z");
  CHECK(parsed["level"] == "warn");
  CHECK(parsed["component"] == "serve");
  CHECK(parsed["msg"] == "listening");
  CHECK(parsed["fields.port"] == "7070");
  CHECK(parsed["fields.tls"] == "on");
  auto empty = parseLine(log::formatLine(log::Format::Json, 0, log::Level::Info, "c", "m", {}));
  CHECK(empty["msg"] == "m");
  CHECK(empty.count("fields.port") == 0);
}

TEST_CASE("log json: hostile bytes are escaped and the line still parses") {
  const std::string nasty = std::string("quote\" back\\slash\nnew\rline\ttab\x01\x1f\x7f nul") +
                            std::string(1, '\0') + "end";
  auto parsed = parseLine(log::formatLine(log::Format::Json, 0, log::Level::Error, "agent-api",
                                          nasty, {{"k\"ey", nasty}}));
  CHECK(parsed["msg"] == nasty);
  CHECK(parsed["fields.k\"ey"] == nasty);
  // A forged second record inside a message stays inside the message.
  auto forged = parseLine(
      log::formatLine(log::Format::Json, 0, log::Level::Info, "c", "x\"}\n{\"level\":\"error", {}));
  CHECK(forged["level"] == "info");
  CHECK(forged["msg"] == "x\"}\n{\"level\":\"error");
}

TEST_CASE("log json: UTF-8 kept, invalid bytes replaced") {
  auto parsed = parseLine(log::formatLine(log::Format::Json, 0, log::Level::Info, "c",
                                          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", {}));
  CHECK(parsed["msg"] == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    INFO(bad);
    auto replaced = parseLine(log::formatLine(log::Format::Json, 0, log::Level::Info, "c",
                                              std::string("a") + bad + "b", {}));
    CHECK(replaced["msg"].rfind("a\xef\xbf\xbd", 0) == 0);
    CHECK(replaced["msg"].back() == 'b');
  }
}

TEST_CASE("log text: the readable format, fields as key=value") {
  std::string line = log::formatLine(log::Format::Text, 1'700'000'000'123'000'000, log::Level::Info,
                                     "serve", "listening", {{"port", "7070"}});
  CHECK(line == "2023-11-14T22:13:20.123Z info  serve: listening port=7070\n");
}

TEST_CASE("log format names") {
  log::Format format = log::Format::Text;
  CHECK(log::parseFormat("json", &format));
  CHECK(format == log::Format::Json);
  CHECK(log::parseFormat("text", &format));
  CHECK(format == log::Format::Text);
  CHECK_FALSE(log::parseFormat("xml", &format));
}
