#pragma once

// Incremental HTTP/1.x request parsing on top of Debian's http-parser, with Faultline's limits.
// No sockets: bytes in, complete requests (or one error with the status to answer) out, so the
// parser can be unit-tested and fuzzed on its own.

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aggregator/http/server.h"

namespace faultline::aggregator::http {

/// Size limits applied while parsing. Both are hard caps on what the parser buffers.
struct ParserLimits {
  std::size_t max_header_bytes = 16 * 1024;       // request line + headers (and, apart, trailers)
  std::size_t max_body_bytes = 16 * 1024 * 1024;  // decoded body
};

/// Why parsing stopped for good: the status to answer (then close) and a JSON error code.
struct ParseError {
  int status = 400;
  std::string code = "bad_request";
  std::string message;
};

/// What RequestParser::feed stopped at.
enum class ParseEvent : std::uint8_t {
  NeedMore,          // every byte given was consumed; feed more when it arrives
  ContinueExpected,  // headers done, body expected, client sent "Expect: 100-continue"
  RequestReady,      // one request complete: call takeRequest() before feeding again
  Error,             // error() says what to answer; the parser accepts nothing more
};

/// One complete request plus what the connection needs to know about it.
struct ParsedRequest {
  Request request;
  bool keep_alive = false;  // HTTP/1.1 default on, HTTP/1.0 default off, Connection honoured
  unsigned http_minor = 1;  // HTTP/1.<minor>
};

/// Parses a stream of pipelined requests, one at a time: after RequestReady the parser keeps
/// the remaining bytes unconsumed (the caller holds them) until takeRequest().
///
/// Limits: more than max_header_bytes before the end of the headers → 431; a Content-Length
/// over max_body_bytes → 413 right after the headers (the body is never read); a chunked body
/// growing past max_body_bytes → 413 as it arrives; a Transfer-Encoding other than "chunked"
/// → 501; malformed syntax → 400; an HTTP major version other than 1 → 505; an Expect other
/// than 100-continue → 417.
///
/// Thread: not thread-safe; one instance per connection. Not copyable or movable (the C parser
/// points back at it).
class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  struct FeedResult {
    ParseEvent event = ParseEvent::NeedMore;
    std::size_t consumed = 0;  // bytes of the input consumed; the rest must be fed again later
  };

  /// Parses as much of `bytes` as it can. Returns RequestReady/Error at once (consumed 0) while
  /// a request is waiting for takeRequest() or after an error. After a request that does not
  /// keep the connection alive, further bytes are consumed and ignored.
  FeedResult feed(std::string_view bytes);

  /// Moves out the complete request and readies the parser for the next one.
  /// Precondition: the last feed() returned RequestReady.
  ParsedRequest takeRequest();

  /// Valid after feed() returned Error.
  const ParseError& error() const { return error_; }

  /// True once any byte of the next request (after the previous one) has been consumed.
  bool requestStarted() const { return phase_ != Phase::Idle && phase_ != Phase::Closed; }
  /// True when the headers of the current request are complete and its body is being read.
  bool readingBody() const { return phase_ == Phase::Body; }

 private:
  enum class Phase : std::uint8_t { Idle, Headers, HeadersDone, Body, Complete, Closed, Failed };

  static int onMessageBegin(http_parser* p) noexcept;
  static int onUrl(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeaderField(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeaderValue(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onHeadersComplete(http_parser* p) noexcept;
  static int onBody(http_parser* p, const char* at, std::size_t len) noexcept;
  static int onMessageComplete(http_parser* p) noexcept;

  bool addHeaderBytes(std::size_t len);
  bool finishHeaders();
  bool fail(int status, std::string code, std::string message);
  /// Counts trailer bytes after a chunked body (bounded, then dropped); false once over the limit.
  bool countTrailer(std::size_t len);
  void reset();

  ParserLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  Phase phase_ = Phase::Idle;
  ParseError error_;
  bool error_set_ = false;

  ParsedRequest current_;
  std::string url_;
  bool last_was_value_ = false;
  bool expect_continue_ = false;
  bool has_body_ = false;
  std::size_t header_bytes_ = 0;     // wire bytes of the request line and headers
  std::size_t trailer_bytes_ = 0;    // header-shaped bytes after a chunked body
  std::size_t body_wire_bytes_ = 0;  // wire bytes of the body, chunk framing included
};

}  // namespace faultline::aggregator::http
