#include "aggregator/http/request_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using faultline::aggregator::http::ParsedRequest;
using faultline::aggregator::http::ParseEvent;
using faultline::aggregator::http::ParserLimits;
using faultline::aggregator::http::RequestParser;

namespace {
/// Feeds `input` in pieces of `step` bytes (0: all at once) the way a connection would, keeping
/// unconsumed bytes, and collects the requests; `*error_status` gets the error status or 0.
std::vector<ParsedRequest> parseAll(RequestParser& parser, const std::string& input,
                                    std::size_t step, int* error_status, int* continues = nullptr) {
  std::vector<ParsedRequest> out;
  std::string pending;
  std::size_t pos = 0;
  *error_status = 0;
  while (pos < input.size() || !pending.empty()) {
    std::size_t take = step == 0 ? input.size() - pos : std::min(step, input.size() - pos);
    pending.append(input, pos, take);
    pos += take;
    bool progressed = true;
    while (!pending.empty() && progressed) {
      auto result = parser.feed(pending);
      pending.erase(0, result.consumed);
      progressed = result.consumed > 0;
      if (result.event == ParseEvent::RequestReady) {
        out.push_back(parser.takeRequest());
        progressed = true;
      } else if (result.event == ParseEvent::ContinueExpected) {
        if (continues != nullptr) {
          ++*continues;
        }
        progressed = true;
      } else if (result.event == ParseEvent::Error) {
        *error_status = parser.error().status;
        return out;
      }
    }
    if (take == 0 && !progressed) {
      break;
    }
  }
  return out;
}

std::vector<ParsedRequest> parseAll(const std::string& input, int* error_status,
                                    ParserLimits limits = {}) {
  RequestParser parser(limits);
  return parseAll(parser, input, 0, error_status);
}
}  // namespace

TEST_CASE("parser: GET with query, lower-cased headers and keep-alive") {
  int error = 0;
  auto requests = parseAll(
      "GET /v1/items?limit=10&q=a%20b HTTP/1.1\r\nHost: example\r\nX-Thing:  Value  \r\n\r\n",
      &error);
  CHECK(error == 0);
  REQUIRE(requests.size() == 1);
  const auto& r = requests[0];
  CHECK(r.request.method == "GET");
  CHECK(r.request.path == "/v1/items");
  CHECK(r.request.query == "limit=10&q=a%20b");
  REQUIRE(r.request.header("x-thing") != nullptr);
  CHECK(*r.request.header("x-thing") == "Value");
  CHECK(*r.request.header("host") == "example");
  CHECK(r.keep_alive);
  CHECK(r.http_minor == 1);
  CHECK(r.request.body.empty());
}

TEST_CASE("parser: POST body, fed whole and byte by byte, gives the same request") {
  const std::string input =
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
  for (std::size_t step : {0u, 1u, 3u, 7u}) {
    RequestParser parser(ParserLimits{});
    int error = 0;
    auto requests = parseAll(parser, input, step, &error);
    CHECK(error == 0);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].request.method == "POST");
    CHECK(requests[0].request.body == "hello world");
  }
}

TEST_CASE("parser: pipelined requests come out one at a time, in order") {
  const std::string input =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
      "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  RequestParser parser(ParserLimits{});
  auto first = parser.feed(input);
  REQUIRE(first.event == ParseEvent::RequestReady);
  CHECK(first.consumed < input.size());
  // Until takeRequest(), nothing more is parsed.
  auto again = parser.feed(std::string_view(input).substr(first.consumed));
  CHECK(again.event == ParseEvent::RequestReady);
  CHECK(again.consumed == 0);
  CHECK(parser.takeRequest().request.path == "/a");

  int error = 0;
  auto rest = parseAll(parser, input.substr(first.consumed), 0, &error);
  CHECK(error == 0);
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].request.path == "/b");
  CHECK(rest[0].request.body == "xyz");
  CHECK(rest[1].request.path == "/c");
  CHECK_FALSE(rest[1].keep_alive);
  // After a request that closes the connection, further bytes are ignored.
  auto after = parser.feed("GET /d HTTP/1.1\r\n\r\n");
  CHECK(after.event == ParseEvent::NeedMore);
  CHECK(after.consumed == 19);
}

TEST_CASE("parser: chunked body with trailers is decoded") {
  const std::string input =
      "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (std::size_t step : {0u, 1u, 5u}) {
    RequestParser parser(ParserLimits{});
    int error = 0;
    auto requests = parseAll(parser, input, step, &error);
    CHECK(error == 0);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].request.body == "hello world");
    CHECK(requests[0].request.header("x-trailer") == nullptr);
  }
}

TEST_CASE("parser: connection persistence follows version and Connection header") {
  int error = 0;
  CHECK_FALSE(parseAll("GET / HTTP/1.0\r\n\r\n", &error).at(0).keep_alive);
  auto ka10 = parseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &error);
  CHECK(ka10.at(0).keep_alive);
  CHECK(ka10.at(0).http_minor == 0);
  CHECK_FALSE(parseAll("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &error).at(0).keep_alive);
  CHECK_FALSE(
      parseAll("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &error)
          .at(0)
          .keep_alive);
}

TEST_CASE("parser: headers over the limit are refused with 431, whole or trickled") {
  ParserLimits limits;
  limits.max_header_bytes = 256;
  const std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(400, 'a') + "\r\n\r\n";
  for (std::size_t step : {0u, 1u, 64u}) {
    RequestParser parser(limits);
    int error = 0;
    auto requests = parseAll(parser, big, step, &error);
    CHECK(requests.empty());
    CHECK(error == 431);
    CHECK(parser.error().code == "header_too_large");
  }
  // A header block that never ends is refused once it passes the limit.
  RequestParser endless(limits);
  auto result = endless.feed("GET / HTTP/1.1\r\nX-A: " + std::string(10'000, 'a'));
  CHECK(result.event == ParseEvent::Error);
  CHECK(result.consumed <= 257);
  // Just under the limit is fine.
  int error = 0;
  const std::string fits = "GET / HTTP/1.1\r\nX-Ok: " + std::string(200, 'a') + "\r\n\r\n";
  REQUIRE(fits.size() <= 256);
  CHECK(parseAll(fits, &error, limits).size() == 1);
  CHECK(error == 0);
}

TEST_CASE("parser: Content-Length over the limit is refused right after the headers") {
  ParserLimits limits;
  limits.max_body_bytes = 100;
  const std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n";
  RequestParser parser(limits);
  auto result = parser.feed(head);  // no body bytes at all
  CHECK(result.event == ParseEvent::Error);
  CHECK(parser.error().status == 413);
  CHECK(parser.error().code == "payload_too_large");
  // Once failed, the parser stays failed.
  CHECK(parser.feed("more").event == ParseEvent::Error);

  int error = 0;
  CHECK(parseAll("POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b'), &error,
                 limits)
            .size() == 1);
  CHECK(error == 0);
  parseAll("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &error, limits);
  CHECK((error == 400 || error == 413));
}

TEST_CASE("parser: chunked body growing past the limit is refused as it arrives") {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  int error = 0;
  auto requests =
      parseAll("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n",
               &error, limits);
  CHECK(requests.empty());
  CHECK(error == 0);  // 8 bytes: still fine, waiting for more

  RequestParser parser(limits);
  auto result = parser.feed(
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n1234");
  CHECK(result.event == ParseEvent::Error);
  CHECK(parser.error().status == 413);

  // Chunk-extension floods count against the body limit too.
  RequestParser flood(limits);
  std::string ext =
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(200'000, 'e');
  CHECK(flood.feed(ext).event == ParseEvent::Error);
}

TEST_CASE("parser: unsupported transfer-encodings get 501, ambiguous framing 400") {
  int error = 0;
  parseAll("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &error);
  CHECK(error == 501);
  parseAll("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &error);
  CHECK(error == 501);
  parseAll("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", &error);
  CHECK(error == 400);
  parseAll("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", &error);
  CHECK(error == 400);
}

TEST_CASE("parser: malformed requests get 400") {
  int error = 0;
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                          "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "\x16\x03\x01\x02\x00",
                          "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    CAPTURE(bad);
    CHECK(parseAll(bad, &error).empty());
    CHECK(error == 400);
  }
  parseAll("GET / HTTP/2.0\r\n\r\n", &error);
  CHECK(error == 505);
}

TEST_CASE("parser: Expect 100-continue is announced before the body, only when one follows") {
  RequestParser parser(ParserLimits{});
  const std::string head =
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
  auto result = parser.feed(head);
  CHECK(result.event == ParseEvent::ContinueExpected);
  CHECK(parser.readingBody());
  std::string rest = head.substr(result.consumed) + "abcde";
  result = parser.feed(rest);
  REQUIRE(result.event == ParseEvent::RequestReady);
  CHECK(parser.takeRequest().request.body == "abcde");

  int error = 0;
  int continues = 0;
  RequestParser no_body(ParserLimits{});
  parseAll(no_body, "GET /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 0, &error, &continues);
  CHECK(continues == 0);
  CHECK(error == 0);

  ParserLimits small;
  small.max_body_bytes = 4;
  RequestParser too_big(small);
  CHECK(too_big.feed(head).event == ParseEvent::Error);
  CHECK(too_big.error().status == 413);

  parseAll("POST /x HTTP/1.1\r\nContent-Length: 1\r\nExpect: tea\r\n\r\nx", &error);
  CHECK(error == 417);
}

TEST_CASE("parser: absolute-form target is split into path and query") {
  int error = 0;
  auto requests = parseAll("GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\n\r\n", &error);
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].request.path == "/p/q");
  CHECK(requests[0].request.query == "x=1");
  requests = parseAll("OPTIONS * HTTP/1.1\r\n\r\n", &error);
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].request.path == "*");
}

TEST_CASE("parser: leading blank lines between pipelined requests are tolerated") {
  int error = 0;
  auto requests = parseAll("\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n", &error);
  CHECK(error == 0);
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].request.path == "/b");
}
