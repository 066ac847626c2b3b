#include "aggregator/http/request_parser.h"

#include <algorithm>
#include <climits>
#include <utility>

namespace faultline::aggregator::http {
namespace {
constexpr std::size_t kBodyFramingAllowance = 64 * 1024;

char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

RequestParser* self(http_parser* p) {
  return static_cast<RequestParser*>(p->data);
}
}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  if (limits_.max_header_bytes == 0) {
    limits_.max_header_bytes = 1;
  }
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &RequestParser::onMessageBegin;
  settings_.on_url = &RequestParser::onUrl;
  settings_.on_header_field = &RequestParser::onHeaderField;
  settings_.on_header_value = &RequestParser::onHeaderValue;
  settings_.on_headers_complete = &RequestParser::onHeadersComplete;
  settings_.on_body = &RequestParser::onBody;
  settings_.on_message_complete = &RequestParser::onMessageComplete;
}

RequestParser::FeedResult RequestParser::feed(std::string_view bytes) {
  FeedResult result;
  if (phase_ == Phase::Failed) {
    result.event = ParseEvent::Error;
    return result;
  }
  if (phase_ == Phase::Complete) {
    result.event = ParseEvent::RequestReady;
    return result;
  }
  if (phase_ == Phase::Closed) {
    result.consumed = bytes.size();
    return result;
  }
  while (result.consumed < bytes.size()) {
    const bool in_headers = phase_ == Phase::Idle || phase_ == Phase::Headers;
    std::size_t chunk = bytes.size() - result.consumed;
    if (in_headers) {
      // Never hand http-parser more header bytes than the limit allows, so the count is exact
      // and nothing past the limit is ever buffered.
      chunk = std::min(chunk, limits_.max_header_bytes + 1 - header_bytes_);
    }
    std::size_t n =
        http_parser_execute(&parser_, &settings_, bytes.data() + result.consumed, chunk);
    result.consumed += n;
    if (in_headers) {
      header_bytes_ += n;
    } else {
      body_wire_bytes_ += n;
    }
    const http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (err == HPE_PAUSED) {
      http_parser_pause(&parser_, 0);
      if (phase_ == Phase::HeadersDone) {
        // Paused before the last LF of the headers: it is left unconsumed and parsed on resume.
        if (!finishHeaders()) {
          result.event = ParseEvent::Error;
          return result;
        }
        phase_ = Phase::Body;
        if (expect_continue_ && has_body_) {
          expect_continue_ = false;
          result.event = ParseEvent::ContinueExpected;
          return result;
        }
        continue;
      }
      if (phase_ == Phase::Complete) {
        result.event = ParseEvent::RequestReady;
        return result;
      }
      fail(500, "internal", "parser paused unexpectedly");
      result.event = ParseEvent::Error;
      return result;
    }
    if (err != HPE_OK) {
      if (!error_set_) {
        if (err == HPE_HEADER_OVERFLOW) {
          fail(431, "header_too_large", "request headers exceed the size limit");
        } else if (err == HPE_INVALID_TRANSFER_ENCODING) {
          fail(501, "not_implemented", "unsupported transfer-encoding");
        } else {
          fail(400, "bad_request",
               std::string("malformed request: ") + http_errno_description(err));
        }
      }
      phase_ = Phase::Failed;
      result.event = ParseEvent::Error;
      return result;
    }
    if (phase_ == Phase::Idle || phase_ == Phase::Headers) {
      if (header_bytes_ > limits_.max_header_bytes) {
        fail(431, "header_too_large", "request headers exceed the size limit");
        result.event = ParseEvent::Error;
        return result;
      }
    } else if (phase_ == Phase::Body &&
               body_wire_bytes_ > limits_.max_body_bytes * 2 + kBodyFramingAllowance) {
      // Chunk extensions and tiny chunks can carry many wire bytes for few body bytes.
      fail(413, "payload_too_large", "request body framing exceeds the size limit");
      result.event = ParseEvent::Error;
      return result;
    }
    if (n == 0 && result.consumed < bytes.size()) {
      // http-parser consumed nothing without an error: stop rather than spin.
      fail(400, "bad_request", "malformed request");
      result.event = ParseEvent::Error;
      return result;
    }
  }
  return result;
}

ParsedRequest RequestParser::takeRequest() {
  ParsedRequest out = std::move(current_);
  const bool keep_alive = out.keep_alive;
  reset();
  phase_ = keep_alive ? Phase::Idle : Phase::Closed;
  return out;
}

void RequestParser::reset() {
  current_ = ParsedRequest{};
  url_.clear();
  last_was_value_ = false;
  expect_continue_ = false;
  has_body_ = false;
  header_bytes_ = 0;
  trailer_bytes_ = 0;
  body_wire_bytes_ = 0;
}

bool RequestParser::fail(int status, std::string code, std::string message) {
  error_.status = status;
  error_.code = std::move(code);
  error_.message = std::move(message);
  error_set_ = true;
  phase_ = Phase::Failed;
  return false;
}

int RequestParser::onMessageBegin(http_parser* p) noexcept {
  RequestParser* s = self(p);
  s->phase_ = Phase::Headers;
  return 0;
}

bool RequestParser::countTrailer(std::size_t len) {
  trailer_bytes_ += len;
  if (trailer_bytes_ > limits_.max_header_bytes) {
    fail(431, "header_too_large", "request trailers exceed the size limit");
    return false;
  }
  return true;
}

int RequestParser::onUrl(http_parser* p, const char* at, std::size_t len) noexcept {
  self(p)->url_.append(at, len);
  return 0;
}

int RequestParser::onHeaderField(http_parser* p, const char* at, std::size_t len) noexcept {
  RequestParser* s = self(p);
  if (s->phase_ == Phase::Body) {
    // Trailers after a chunked body: bounded, then dropped.
    return s->countTrailer(len) ? 0 : 1;
  }
  auto& headers = s->current_.request.headers;
  if (headers.empty() || s->last_was_value_) {
    headers.emplace_back();
  }
  s->last_was_value_ = false;
  std::string& name = headers.back().first;
  for (std::size_t i = 0; i < len; ++i) {
    name += lowerAscii(at[i]);
  }
  return 0;
}

int RequestParser::onHeaderValue(http_parser* p, const char* at, std::size_t len) noexcept {
  RequestParser* s = self(p);
  if (s->phase_ == Phase::Body) {
    return s->countTrailer(len) ? 0 : 1;
  }
  auto& headers = s->current_.request.headers;
  if (headers.empty()) {
    headers.emplace_back();
  }
  s->last_was_value_ = true;
  headers.back().second.append(at, len);
  return 0;
}

int RequestParser::onHeadersComplete(http_parser* p) noexcept {
  // Pause so feed() can check the limits and answer Expect before any body byte is parsed.
  self(p)->phase_ = Phase::HeadersDone;
  http_parser_pause(p, 1);
  return 0;
}

bool RequestParser::finishHeaders() {
  // The final LF is still unconsumed; count it.
  if (header_bytes_ + 1 > limits_.max_header_bytes) {
    return fail(431, "header_too_large", "request headers exceed the size limit");
  }
  if (parser_.http_major != 1) {
    return fail(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  Request& request = current_.request;
  for (auto& [name, value] : request.headers) {
    std::string_view trimmed = trim(value);
    if (trimmed.size() != value.size()) {
      value = std::string(trimmed);
    }
  }
  request.method = http_method_str(static_cast<http_method>(parser_.method));
  current_.http_minor = parser_.http_minor;

  if (url_.empty()) {
    return fail(400, "bad_request", "empty request target");
  }
  std::string_view target = url_;
  if (target.front() == '/') {
    std::size_t hash = target.find('#');
    if (hash != std::string_view::npos) {
      target = target.substr(0, hash);
    }
    std::size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    request.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  } else if (target == "*" || parser_.method == HTTP_CONNECT) {
    request.path = url_;
  } else {
    // absolute-form: http://host/path?query
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url_.data(), url_.size(), 0, &u) != 0) {
      return fail(400, "bad_request", "invalid request target");
    }
    if ((u.field_set & (1 << UF_PATH)) != 0) {
      request.path = url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    } else {
      request.path = "/";
    }
    if ((u.field_set & (1 << UF_QUERY)) != 0) {
      request.query = url_.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    }
  }

  if (const std::string* te = request.header("transfer-encoding")) {
    if (!equalsIgnoreCase(*te, "chunked")) {
      return fail(501, "not_implemented", "unsupported transfer-encoding '" + *te + "'");
    }
  }
  const bool chunked = (parser_.flags & F_CHUNKED) != 0;
  const bool has_length = (parser_.flags & F_CONTENTLENGTH) != 0;
  if (has_length && parser_.content_length > limits_.max_body_bytes) {
    return fail(413, "payload_too_large",
                "request body of " + std::to_string(parser_.content_length) +
                    " bytes exceeds the limit of " + std::to_string(limits_.max_body_bytes));
  }
  has_body_ = chunked || (has_length && parser_.content_length > 0);
  if (has_length && parser_.content_length > 0) {
    current_.request.body.reserve(static_cast<std::size_t>(parser_.content_length));
  }
  if (const std::string* expect = request.header("expect")) {
    if (equalsIgnoreCase(*expect, "100-continue")) {
      expect_continue_ = current_.http_minor >= 1;
    } else {
      return fail(417, "expectation_failed", "unsupported expectation '" + *expect + "'");
    }
  }
  // An Upgrade (e.g. websocket) is not supported: answer the request, then close.
  current_.keep_alive = http_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0 &&
                        parser_.method != HTTP_CONNECT;
  return true;
}

int RequestParser::onBody(http_parser* p, const char* at, std::size_t len) noexcept {
  RequestParser* s = self(p);
  std::string& body = s->current_.request.body;
  if (body.size() + len > s->limits_.max_body_bytes) {
    s->fail(413, "payload_too_large",
            "request body exceeds the limit of " + std::to_string(s->limits_.max_body_bytes) +
                " bytes");
    return 1;
  }
  body.append(at, len);
  return 0;
}

int RequestParser::onMessageComplete(http_parser* p) noexcept {
  RequestParser* s = self(p);
  s->phase_ = Phase::Complete;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace faultline::aggregator::http
