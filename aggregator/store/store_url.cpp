#include "aggregator/store/store_url.h"

#include <vector>

namespace faultline::aggregator::store {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite://";
constexpr std::string_view kPostgresSchemes[] = {"postgres://", "postgresql://"};

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

struct Span {
  std::size_t begin;
  std::size_t end;  // exclusive
};

// Where passwords sit in a URL: after the first ':' of the userinfo (which ends at the last '@'
// before the query; searching past the first '/' errs on the side of hiding more) and in the
// values of password=... query parameters. In URL order.
std::vector<Span> passwordSpans(std::string_view url) {
  std::vector<Span> spans;
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return spans;
  }
  std::size_t authority = scheme_end + 3;
  std::size_t query = url.find('?', authority);
  std::string_view head = url.substr(0, query);
  std::size_t at = head.rfind('@');
  std::size_t colon = head.find(':', authority);
  if (at != std::string_view::npos && at > authority && colon != std::string_view::npos &&
      colon < at) {
    spans.push_back({colon + 1, at});
  }
  if (query == std::string_view::npos) {
    return spans;
  }
  std::size_t pos = query + 1;
  while (pos <= url.size()) {
    std::size_t end = url.find('&', pos);
    if (end == std::string_view::npos) {
      end = url.size();
    }
    std::string_view pair = url.substr(pos, end - pos);
    std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == "password") {
      spans.push_back({pos + eq + 1, end});
    }
    pos = end + 1;
  }
  return spans;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percentDecoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
        hexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

void replaceAll(std::string* text, std::string_view secret) {
  if (secret.empty()) {
    return;
  }
  for (std::size_t pos = text->find(secret); pos != std::string::npos;
       pos = text->find(secret, pos + 3)) {
    text->replace(pos, secret.size(), "***");
  }
}

}  // namespace

std::string redactStoreUrl(std::string_view url) {
  std::string out;
  std::size_t copied = 0;
  for (const Span& span : passwordSpans(url)) {
    out.append(url.substr(copied, span.begin - copied));
    out.append("***");
    copied = span.end;
  }
  out.append(url.substr(copied));
  return out;
}

std::string redactPasswordsIn(std::string_view text, std::string_view url) {
  std::string out(text);
  for (const Span& span : passwordSpans(url)) {
    std::string_view secret = url.substr(span.begin, span.end - span.begin);
    replaceAll(&out, secret);
    replaceAll(&out, percentDecoded(secret));
  }
  return out;
}

Result<StoreLocation> parseStoreUrl(std::string_view url, std::string_view default_sqlite_path) {
  StoreLocation location;
  if (url.empty()) {
    location.sqlite_path = std::string(default_sqlite_path);
    return location;
  }
  if (startsWith(url, kSqliteScheme)) {
    location.sqlite_path = std::string(url.substr(kSqliteScheme.size()));
    if (location.sqlite_path.empty()) {
      return invalidArgument("store URL 'sqlite://' names no file: use sqlite:///path/to/file.db");
    }
    return location;
  }
  for (std::string_view scheme : kPostgresSchemes) {
    if (startsWith(url, scheme)) {
      location.engine = Engine::Postgres;
      location.postgres_url = std::string(url);
      return location;
    }
  }
  return invalidArgument("store URL '" + redactStoreUrl(url) +
                         "': expected sqlite:///PATH, postgres://... or postgresql://...");
}

std::string describeStoreLocation(const StoreLocation& location) {
  if (location.engine == Engine::Sqlite) {
    return "sqlite:" + location.sqlite_path;
  }
  return redactStoreUrl(location.postgres_url);
}

}  // namespace faultline::aggregator::store
