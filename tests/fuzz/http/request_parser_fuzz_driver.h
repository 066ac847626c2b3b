#pragma once

// The body of fuzz_http_request, shared with the unit test that replays
// tests/fuzz/regressions/http_request/. Header-only so the unit tests need no fuzz build.
//
// Input layout: byte 0 picks the feed step, byte 1 the header limit, byte 2 the body limit;
// the rest is the byte stream of one connection. The stream is parsed twice, in one piece and
// in steps, the way a connection keeps unconsumed bytes; both runs must yield the same requests
// (and fail or not alike) and respect the limits.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/http/request_parser.h"

namespace faultline::aggregator::http {

namespace fuzz_detail {
struct Outcome {
  std::vector<std::string> events;  // one summary per event
  bool ok = true;                   // limits respected
};

inline Outcome run(std::string_view input, std::size_t step, ParserLimits limits) {
  Outcome out;
  RequestParser parser(limits);
  std::string pending;
  std::size_t pos = 0;
  for (;;) {
    if (pos < input.size()) {
      std::size_t take = step == 0 ? input.size() - pos : std::min(step, input.size() - pos);
      pending.append(input.substr(pos, take));
      pos += take;
    }
    bool stop = false;
    for (;;) {
      auto result = parser.feed(pending);
      if (result.consumed > pending.size()) {
        out.ok = false;
        return out;
      }
      pending.erase(0, result.consumed);
      if (result.event == ParseEvent::RequestReady) {
        ParsedRequest r = parser.takeRequest();
        if (r.request.body.size() > limits.max_body_bytes) {
          out.ok = false;
        }
        std::string summary = r.request.method + " " + r.request.path + "?" + r.request.query +
                              " body=" + r.request.body + " ka=" + std::to_string(r.keep_alive) +
                              " h=";
        for (const auto& [name, value] : r.request.headers) {
          summary += name + ":" + value + ";";
        }
        out.events.push_back(std::move(summary));
        continue;
      }
      if (result.event == ParseEvent::ContinueExpected) {
        out.events.emplace_back("continue");
        continue;
      }
      if (result.event == ParseEvent::Error) {
        const ParseError& e = parser.error();
        if (e.status < 400 || e.status > 599 || e.code.empty()) {
          out.ok = false;
        }
        // Only "error", not its status: with two faults in one input (say, trailers over the
        // limit and a bad byte in them) which one is seen first depends on where the input was
        // split, since http-parser reports data at buffer ends. Whether it fails does not.
        out.events.emplace_back("error");
        stop = true;
      }
      break;
    }
    if (stop || pos >= input.size()) {
      break;
    }
  }
  return out;
}
}  // namespace fuzz_detail

/// True when the parser behaved: same events whole and split, limits held.
inline bool fuzzRequestParser(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return true;
  }
  const std::size_t step = 1 + data[0] % 32;
  ParserLimits limits;
  limits.max_header_bytes = 32 + static_cast<std::size_t>(data[1]) * 8;
  limits.max_body_bytes = static_cast<std::size_t>(data[2]) * 16;
  std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);
  fuzz_detail::Outcome whole = fuzz_detail::run(input, 0, limits);
  fuzz_detail::Outcome split = fuzz_detail::run(input, step, limits);
  return whole.ok && split.ok && whole.events == split.events;
}

}  // namespace faultline::aggregator::http
