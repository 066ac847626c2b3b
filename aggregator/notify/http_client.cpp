#include "aggregator/notify/http_client.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "shared/util/c_deleter.h"

namespace faultline::aggregator::notify {
namespace {

using Clock = std::chrono::steady_clock;
using SslCtxPtr = CPtr<SSL_CTX, &SSL_CTX_free>;
using SslPtr = CPtr<SSL, &SSL_free>;
using AddrInfoPtr = CPtr<addrinfo, &freeaddrinfo>;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
// A Retry-After longer than a day is treated as a day: the caller caps it anyway.
constexpr std::int64_t kMaxRetryAfterSeconds = 86'400;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

/// Waits until `fd` is ready for `events` or the deadline passes.
Status waitReady(int fd, short events, Clock::time_point deadline, std::string_view what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return unavailable(std::string(what) + ": timed out");
    }
    pollfd pfd{fd, events, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc > 0) {
      return Status::ok();
    }
    if (rc < 0 && errno != EINTR) {
      return unavailable(std::string(what) + ": poll: " + std::strerror(errno));
    }
  }
}

/// A non-blocking TCP connection to the first address of `url` that answers in time.
Result<UniqueFd> connectTcp(const HttpUrl& url, Clock::time_point deadline, std::string_view what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  if (rc != 0) {
    return unavailable(std::string(what) + ": resolve " + url.host + ": " + gai_strerror(rc));
  }
  AddrInfoPtr addresses(found);
  std::string last_error = "no address";
  for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last_error = std::strerror(errno);
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        continue;
      }
      FL_RETURN_IF_ERROR(
          waitReady(fd.get(), POLLOUT, deadline, std::string(what) + ": connect " + url.host));
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) {
        last_error = std::strerror(so_error);
        continue;
      }
    }
    return fd;
  }
  return unavailable(std::string(what) + ": connect " + url.host + ":" + url.port + ": " +
                     last_error);
}

/// Drives one non-blocking SSL call to completion, waiting on the socket as OpenSSL asks.
template <typename Call>
Result<int> sslRetry(SSL* ssl, int fd, Clock::time_point deadline, std::string_view what,
                     Call&& call) {
  for (;;) {
    ERR_clear_error();
    int rc = call();
    if (rc > 0) {
      return rc;
    }
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      FL_RETURN_IF_ERROR(
          waitReady(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, what));
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      return 0;
    }
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return Status(Errc::Unavailable, std::string(what) + ": server certificate: " +
                                           X509_verify_cert_error_string(verify));
    }
    return Status(Errc::Unavailable, std::string(what) + ": " + opensslError("TLS error"));
  }
}

/// Plain socket I/O with the same shape as sslRetry: >0 bytes, 0 at end of stream.
template <typename Call>
Result<int> plainRetry(int fd, short events, Clock::time_point deadline, std::string_view what,
                       Call&& call) {
  for (;;) {
    ssize_t rc = call();
    if (rc >= 0) {
      return static_cast<int>(rc);
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      FL_RETURN_IF_ERROR(waitReady(fd, events, deadline, what));
      continue;
    }
    return unavailable(std::string(what) + ": " + std::strerror(errno));
  }
}

/// Undoes Transfer-Encoding: chunked. InvalidArgument when malformed.
Result<std::string> dechunk(std::string_view data) {
  std::string out;
  for (;;) {
    std::size_t eol = data.find("\r\n");
    if (eol == std::string_view::npos) {
      return invalidArgument("truncated chunked body");
    }
    std::string size_text(data.substr(0, std::min(eol, data.find(';'))));
    char* end = nullptr;
    unsigned long long size = std::strtoull(size_text.c_str(), &end, 16);
    if (size_text.empty() || end == size_text.c_str() || size > data.size()) {
      return invalidArgument("bad chunk size");
    }
    data.remove_prefix(eol + 2);
    if (size == 0) {
      return out;
    }
    if (data.size() < size + 2) {
      return invalidArgument("truncated chunk");
    }
    out.append(data.substr(0, size));
    data.remove_prefix(size + 2);
  }
}

/// Retry-After: delta-seconds, or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::optional<std::int64_t> parseRetryAfter(std::string_view value) {
  value = trim(value);
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) {
      return kMaxRetryAfterSeconds;
    }
    return std::min<std::int64_t>(std::atoll(std::string(value).c_str()), kMaxRetryAfterSeconds);
  }
  std::tm tm{};
  std::string text(value);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const std::int64_t delta = static_cast<std::int64_t>(timegm(&tm)) - std::time(nullptr);
  return std::clamp<std::int64_t>(delta, 0, kMaxRetryAfterSeconds);
}

bool validHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
         c == ':';
}

}  // namespace

std::string opensslError(std::string_view fallback) {
  unsigned long err = ERR_get_error();
  std::string text;
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    text = buf;
  } else {
    text = std::string(fallback);
  }
  ERR_clear_error();
  return text;
}

std::string asciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Result<HttpUrl> parseHttpUrl(std::string_view url) {
  HttpUrl out;
  std::string_view rest;
  if (asciiLower(url.substr(0, 8)) == "https://") {
    out.tls = true;
    out.port = "443";
    rest = url.substr(8);
  } else if (asciiLower(url.substr(0, 7)) == "http://") {
    out.tls = false;
    out.port = "80";
    rest = url.substr(7);
  } else {
    return invalidArgument("URL must be http:// or https://");
  }
  std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return invalidArgument("URL must not carry credentials (user:password@)");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("URL has an unclosed IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return invalidArgument("URL has a bad authority");
      }
      port = after.substr(1);
      if (port.empty()) {
        return invalidArgument("URL has an empty port");
      }
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      return invalidArgument("URL has an empty port");
    }
  }
  if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), validHostChar)) {
    return invalidArgument("URL has a bad host");
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::atoi(std::string(port).c_str()) == 0 || std::atoi(std::string(port).c_str()) > 65535) {
      return invalidArgument("URL has a bad port");
    }
    out.port = std::string(port);
  }
  out.host = asciiLower(host);
  if (authority_end != std::string_view::npos) {
    std::string_view path = rest.substr(authority_end);
    path = path.substr(0, path.find('#'));
    if (path.starts_with("?")) {
      out.path_and_query = "/" + std::string(path);
    } else if (!path.empty()) {
      out.path_and_query = std::string(path);
    }
    for (char c : out.path_and_query) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        return invalidArgument("URL path has a control character or space");
      }
    }
  }
  return out;
}

std::string redactedUrl(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos || scheme > 8) {
    return "(not a URL)";
  }
  std::string_view rest = url.substr(scheme + 3);
  std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string out = std::string(url.substr(0, scheme + 3)) + std::string(authority.substr(0, 260));
  if (authority_end != std::string_view::npos && rest.size() > authority_end + 1) {
    out += "/...";
  }
  return out;
}

Result<HttpResponse> parseHttpResponse(std::string_view raw, std::size_t max_body,
                                       std::string_view what) {
  std::size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    return unavailable(std::string(what) + ": incomplete HTTP response");
  }
  std::string_view head = raw.substr(0, header_end);
  std::string_view body = raw.substr(header_end + 4);
  std::size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
    return unavailable(std::string(what) + ": not an HTTP response");
  }
  HttpResponse response;
  std::size_t space = status_line.find(' ');
  std::string_view code = status_line.substr(space + 1, 3);
  if (space == std::string_view::npos || code.size() != 3 ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return unavailable(std::string(what) + ": bad HTTP status line");
  }
  response.status = std::atoi(std::string(code).c_str());
  bool chunked = false;
  long long content_length = -1;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string line = asciiLower(head.substr(0, eol));
    if (line.starts_with("content-length:")) {
      content_length = std::atoll(line.c_str() + 15);
    } else if (line.starts_with("transfer-encoding:") &&
               line.find("chunked") != std::string::npos) {
      chunked = true;
    } else if (line.starts_with("retry-after:")) {
      response.retry_after_seconds = parseRetryAfter(std::string_view(line).substr(12));
      if (!response.retry_after_seconds) {
        // Dates are case-sensitive for strptime on some libcs: try the original text too.
        response.retry_after_seconds = parseRetryAfter(head.substr(12, eol - 12));
      }
    }
  }
  if (chunked) {
    auto decoded = dechunk(body);
    if (!decoded.isOk()) {
      return unavailable(std::string(what) + ": " + decoded.status().message());
    }
    response.body = std::move(*decoded);
  } else {
    if (content_length >= 0 && static_cast<std::size_t>(content_length) != body.size()) {
      return unavailable(std::string(what) + ": response body truncated");
    }
    response.body = std::string(body);
  }
  if (response.body.size() > max_body) {
    return Status(Errc::ResourceExhausted, std::string(what) + ": response larger than " +
                                               std::to_string(max_body) + " bytes");
  }
  return response;
}

struct HttpClient::Impl {
  SslCtxPtr tls;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->tls.reset(SSL_CTX_new(TLS_client_method()));
  if (impl->tls == nullptr) {
    return internalError("HTTP client: " + opensslError("OpenSSL allocation failed"));
  }
  if (SSL_CTX_set_default_verify_paths(impl->tls.get()) != 1) {
    return internalError("load the system CA store: " + opensslError("failed"));
  }
  if (!options.extra_ca_file.empty() &&
      SSL_CTX_load_verify_locations(impl->tls.get(), options.extra_ca_file.c_str(), nullptr) != 1) {
    return invalidArgument("cannot load CA file " + options.extra_ca_file + ": " +
                           opensslError("bad PEM"));
  }
  SSL_CTX_set_min_proto_version(impl->tls.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(impl->tls.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_options(impl->tls.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::send(const HttpUrl& url, const HttpRequest& request,
                                      std::string_view what) const {
  const auto deadline = Clock::now() + request.timeout;
  FL_ASSIGN_OR_RETURN(UniqueFd fd, connectTcp(url, deadline, what));
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = (v6 ? "[" + url.host + "]" : url.host) +
                           (url.port == (url.tls ? "443" : "80") ? "" : ":" + url.port);
  std::string wire = request.method + " " + url.path_and_query + " HTTP/1.1\r\nHost: " + host +
                     "\r\nUser-Agent: faultline-aggregator\r\nConnection: close\r\n";
  bool has_accept = false;
  for (const auto& [name, value] : request.headers) {
    has_accept = has_accept || asciiLower(name) == "accept";
    wire += name + ": " + value + "\r\n";
  }
  if (!has_accept) {
    wire += "Accept: */*\r\n";
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    wire += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  wire += "\r\n";
  wire += request.body;

  SslPtr ssl;
  SSL* s = nullptr;
  if (url.tls) {
    ssl.reset(SSL_new(impl_->tls.get()));
    if (ssl == nullptr) {
      return internalError(std::string(what) + ": " + opensslError("SSL_new failed"));
    }
    s = ssl.get();
    SSL_set_tlsext_host_name(s, url.host.c_str());
    SSL_set1_host(s, url.host.c_str());
    SSL_set_fd(s, fd.get());
    FL_ASSIGN_OR_RETURN(int connected,
                        sslRetry(s, fd.get(), deadline, what, [s] { return SSL_connect(s); }));
    if (connected <= 0) {
      return unavailable(std::string(what) + ": TLS handshake closed");
    }
  }
  const int sock = fd.get();
  std::size_t sent = 0;
  while (sent < wire.size()) {
    const char* data = wire.data() + sent;
    const std::size_t left = wire.size() - sent;
    Result<int> n = s != nullptr
                        ? sslRetry(s, sock, deadline, what,
                                   [&] { return SSL_write(s, data, static_cast<int>(left)); })
                        : plainRetry(sock, POLLOUT, deadline, what,
                                     [&] { return ::send(sock, data, left, MSG_NOSIGNAL); });
    FL_RETURN_IF_ERROR(n.status());
    if (*n <= 0) {
      return unavailable(std::string(what) + ": connection closed while sending");
    }
    sent += static_cast<std::size_t>(*n);
  }
  std::string raw;
  const std::size_t max_raw = request.max_response_bytes + kMaxHeaderBytes;
  char buf[8192];
  for (;;) {
    Result<int> n = s != nullptr
                        ? sslRetry(s, sock, deadline, what,
                                   [&] { return SSL_read(s, buf, static_cast<int>(sizeof buf)); })
                        : plainRetry(sock, POLLIN, deadline, what,
                                     [&] { return ::recv(sock, buf, sizeof buf, 0); });
    if (!n.isOk()) {
      // A server that answered and then reset the connection still answered.
      if (raw.find("\r\n\r\n") != std::string::npos) {
        break;
      }
      return n.status();
    }
    if (*n <= 0) {
      break;
    }
    raw.append(buf, static_cast<std::size_t>(*n));
    if (raw.size() > max_raw) {
      return Status(Errc::ResourceExhausted, std::string(what) + ": response larger than " +
                                                 std::to_string(request.max_response_bytes) +
                                                 " bytes");
    }
  }
  return parseHttpResponse(raw, request.max_response_bytes, what);
}

}  // namespace faultline::aggregator::notify
