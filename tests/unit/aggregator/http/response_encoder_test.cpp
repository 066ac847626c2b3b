#include "aggregator/http/response_encoder.h"

#include <doctest/doctest.h>

using faultline::aggregator::http::EncodeOptions;
using faultline::aggregator::http::encodeResponse;
using faultline::aggregator::http::httpDate;
using faultline::aggregator::http::Response;

TEST_CASE("encoder: status line, Content-Length, Date and body") {
  Response r = Response::json(200, "{}");
  EncodeOptions o;
  o.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  std::string wire = encodeResponse(r, o);
  CHECK(wire.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(wire.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(wire.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(wire.find("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n") != std::string::npos);
  CHECK(wire.find("Connection:") == std::string::npos);
  CHECK(wire.substr(wire.size() - 6) == "\r\n\r\n{}");
}

TEST_CASE("encoder: HEAD, 204 and 304 never carry a body") {
  Response r = Response::json(200, "hello");
  EncodeOptions head;
  head.head_request = true;
  std::string wire = encodeResponse(r, head);
  CHECK(wire.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");

  r.status = 204;
  wire = encodeResponse(r, EncodeOptions{});
  CHECK(wire.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(wire.find("Content-Length") == std::string::npos);
  CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");

  r.status = 304;
  wire = encodeResponse(r, EncodeOptions{});
  CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
}

TEST_CASE("encoder: handler headers cannot split the response or override framing") {
  Response r;
  r.status = 200;
  r.body = "ok";
  r.headers = {{"X-Evil", "a\r\nSet-Cookie: x=1"},
               {"Content-Length", "999"},
               {"Transfer-Encoding", "chunked"},
               {"X-Good", "yes"}};
  EncodeOptions o;
  o.close = true;
  std::string wire = encodeResponse(r, o);
  CHECK(wire.find("Set-Cookie") == std::string::npos);
  CHECK(wire.find("999") == std::string::npos);
  CHECK(wire.find("Transfer-Encoding") == std::string::npos);
  CHECK(wire.find("X-Good: yes\r\n") != std::string::npos);
  CHECK(wire.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("encoder: IMF-fixdate and unknown statuses") {
  CHECK(httpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(httpDate(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  Response r;
  r.status = 299;
  CHECK(encodeResponse(r, EncodeOptions{}).rfind("HTTP/1.1 299 Unknown\r\n", 0) == 0);
}
