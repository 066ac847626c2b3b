// Access logs, nginx/apache error logs and syslog, with lines as Debian boxes write them.
#include <doctest/doctest.h>

#include "shared/logparse/parser.h"
#include "tests/unit/shared/logparse/parse_test_util.h"

using faultline::logparse::Format;
using faultline::logparse::ParsedLine;
using faultline::logparse::Severity;
using faultline::logparse::testing::attr;
using faultline::logparse::testing::makeParser;
using faultline::logparse::testing::viewsAreInside;

namespace {
constexpr std::int64_t kS = 1'000'000'000;
}

TEST_CASE("access log: nginx combined from a Debian box") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view line =
      "93.184.216.34 - - [02/Jan/2024:03:04:05 +0000] \"GET /index.html HTTP/1.1\" 200 612 \"-\" "
      "\"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\"";
  parser->parse(line, out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(out.severity == Severity::kInfo);
  CHECK(attr(out, "remote_addr") == "93.184.216.34");
  CHECK_FALSE(attr(out, "user"));  // "-" is nil
  CHECK(attr(out, "method") == "GET");
  CHECK(attr(out, "path") == "/index.html");
  CHECK(attr(out, "protocol") == "HTTP/1.1");
  CHECK(attr(out, "status") == "200");
  CHECK(attr(out, "bytes") == "612");
  CHECK_FALSE(attr(out, "referer"));
  CHECK(attr(out, "user_agent") ==
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0");
  CHECK(out.message.substr(0, 28) == "\"GET /index.html HTTP/1.1\" 2");
  CHECK(viewsAreInside(out, line));
}

TEST_CASE("access log: apache common and combined (the httpd docs' examples)") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  parser->parse(
      "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" "
      "200 2326",
      out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK(out.ts_ns == 971211336 * kS);
  CHECK(attr(out, "user") == "frank");
  CHECK(attr(out, "bytes") == "2326");
  CHECK_FALSE(attr(out, "user_agent"));
  parser->parse(
      "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" "
      "200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"",
      out);
  CHECK(attr(out, "referer") == "http://www.example.com/start.html");
  CHECK(attr(out, "user_agent") == "Mozilla/4.08 [en] (Win98; I ;Nav)");
}

TEST_CASE("access log: severity from status, odd requests, IPv6, extra fields") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  parser->parse(
      "10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"POST /api/v1/orders HTTP/2.0\" 502 "
      "166 \"https://shop.example.com/cart\" \"okhttp/4.12.0\" rt=0.002 uct=\"0.000\"",
      out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK(out.severity == Severity::kError);
  CHECK(attr(out, "referer") == "https://shop.example.com/cart");
  parser->parse(
      "10.0.0.2 - - [02/Jan/2024:03:04:05 +0000] \"GET /search?q=\\\"x\\\" HTTP/1.1\" "
      "404 196 \"-\" \"curl/8.5.0\"",
      out);
  CHECK(out.severity == Severity::kWarn);
  CHECK(attr(out, "path") == "/search?q=\\\"x\\\"");
  // A TLS handshake sent to a plain-HTTP port: nginx logs the bytes, escaped.
  parser->parse(
      "192.0.2.7 - - [02/Jan/2024:03:04:05 +0000] "
      "\"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\" 400 157 \"-\" \"-\"",
      out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK(attr(out, "request") == "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03");
  CHECK_FALSE(attr(out, "method"));
  CHECK(out.severity == Severity::kWarn);
  parser->parse(
      "::1 - - [02/Jan/2024:03:04:05 +0000] \"GET /server-status?auto HTTP/1.1\" 200 "
      "1074 \"-\" \"Wget/1.21.3\"",
      out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK(attr(out, "remote_addr") == "::1");
  parser->parse("192.0.2.1 - - [02/Jan/2024:03:04:05 +0000] \"-\" 408 0 \"-\" \"-\"", out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK_FALSE(attr(out, "request"));
  CHECK(attr(out, "bytes") == "0");
  parser->parse("www.example.org - - [02/Jan/2024:03:04:05 +0000] \"HEAD / HTTP/1.1\" 301 - ", out);
  CHECK(out.format == Format::kNginxAccess);
  CHECK_FALSE(attr(out, "bytes"));  // Apache writes "-" for no body
}

TEST_CASE("access log: truncated or malformed lines fall back to plain text") {
  auto parser = makeParser(Format::kNginxAccess);
  ParsedLine out;
  const char* bad[] = {
      "10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET / HTTP/1.1",  // cut in the request
      "10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET / HTTP/1.1\" 2",
      "10.0.0.1 - - [02/Jan/2024:03:04:05 +0000 \"GET / HTTP/1.1\" 200 1",
      "10.0.0.1 - - [32/Jan/2024:03:04:05 +0000] \"GET / HTTP/1.1\" 200 1",
      "10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET / HTTP/1.1\" 200 12a",
      "10.0.0.1 - -",
      "",
  };
  for (const char* line : bad) {
    CAPTURE(line);
    parser->parse(line, out);
    CHECK(out.format == Format::kPlain);
    CHECK(out.attrs.empty());
  }
}

TEST_CASE("nginx error log") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string_view line =
      "2024/01/02 03:04:05 [error] 1234#1234: *5 open() \"/usr/share/nginx/html/favicon.ico\" "
      "failed (2: No such file or directory), client: 203.0.113.9, server: localhost, request: "
      "\"GET /favicon.ico HTTP/1.1\", host: \"example.com\", referrer: \"http://example.com/\"";
  parser->parse(line, out);
  CHECK(out.format == Format::kNginxError);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message ==
        "open() \"/usr/share/nginx/html/favicon.ico\" failed (2: No such file or directory)");
  CHECK(attr(out, "pid") == "1234");
  CHECK(attr(out, "tid") == "1234");
  CHECK(attr(out, "connection") == "5");
  CHECK(attr(out, "client") == "203.0.113.9");
  CHECK(attr(out, "server") == "localhost");
  CHECK(attr(out, "request") == "GET /favicon.ico HTTP/1.1");
  CHECK(attr(out, "host") == "example.com");
  CHECK(attr(out, "referrer") == "http://example.com/");
  CHECK(viewsAreInside(out, line));

  parser->parse("2024/01/02 03:04:05 [notice] 1#1: start worker processes", out);
  CHECK(out.format == Format::kNginxError);
  CHECK(out.severity == Severity::kNotice);
  CHECK(out.message == "start worker processes");
  CHECK_FALSE(attr(out, "connection"));
  parser->parse(
      "2024/01/02 03:04:05 [emerg] 4321#4321: bind() to 0.0.0.0:80 failed (98: Address "
      "already in use)",
      out);
  CHECK(out.severity == Severity::kCritical);
  parser->parse(
      "2024/01/02 03:04:06 [warn] 27#27: *1 an upstream response is buffered to a "
      "temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading "
      "upstream, client: 10.0.0.1, server: _, request: \"GET /big HTTP/1.1\", upstream: "
      "\"http://127.0.0.1:8080/big\", host: \"localhost\"",
      out);
  CHECK(out.severity == Severity::kWarn);
  CHECK(out.ts_ns == 1704164646 * kS);
  CHECK(attr(out, "upstream") == "http://127.0.0.1:8080/big");
  CHECK(attr(out, "server") == "_");
  // Not nginx: unknown level word, missing pid#tid.
  parser->parse("2024/01/02 03:04:05 [bogus] 1#1: x", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 1704164645 * kS);
  parser->parse("2024/01/02 03:04:05 [error] x", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.severity == Severity::kError);
}

TEST_CASE("apache error log: 2.4 and 2.2 layouts") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  parser->parse(
      "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] "
      "[client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico",
      out);
  CHECK(out.format == Format::kApacheError);
  CHECK(out.ts_ns == 971274772123456000);
  CHECK(out.severity == Severity::kError);
  CHECK(attr(out, "module") == "core");
  CHECK(attr(out, "pid") == "35708");
  CHECK(attr(out, "tid") == "4328636416");
  CHECK(attr(out, "client") == "72.15.99.187");
  CHECK(out.message == "File does not exist: /usr/local/apache2/htdocs/favicon.ico");
  parser->parse(
      "[Tue Jan 02 03:04:05.678901 2024] [mpm_event:notice] [pid 1:tid 140234567890] "
      "AH00489: Apache/2.4.57 (Debian) configured -- resuming normal operations",
      out);
  CHECK(out.severity == Severity::kNotice);
  CHECK(out.ts_ns == 1704164645678901000);
  CHECK(out.message.substr(0, 9) == "AH00489: ");
  parser->parse(
      "[Tue Jan 02 03:04:05.000001 2024] [authz_core:trace3] [pid 9] [remote "
      "10.0.0.1:5000] [x] y",
      out);
  CHECK(out.severity == Severity::kTrace);
  CHECK(attr(out, "pid") == "9");
  CHECK_FALSE(attr(out, "tid"));
  CHECK(attr(out, "remote") == "10.0.0.1:5000");
  CHECK(out.message == "[x] y");
  // Loghub's Apache sample (2.2).
  parser->parse("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", out);
  CHECK(out.format == Format::kApacheError);
  CHECK(out.ts_ns == 1133671664 * kS);
  CHECK(out.severity == Severity::kError);
  CHECK_FALSE(attr(out, "module"));
  CHECK(out.message == "mod_jk child workerEnv in error state 6");
  parser->parse("[Sun Dec 04 04:47:44 2005] [notice] jk2_init() Found child 6725", out);
  CHECK(out.severity == Severity::kNotice);
  // A bracketed time that is not apache's: plain text with its timestamp.
  parser->parse("[2024-01-02 03:04:05] production.ERROR: Undefined variable $x", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(out.severity == Severity::kError);
  CHECK(out.message == "production.ERROR: Undefined variable $x");
}

TEST_CASE("syslog RFC 5424: the RFC's examples, structured data to attributes") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  std::string line =
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' "
      "failed for lonvick on /dev/pts/8";
  parser->parse(line, out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1065910455003000000);
  CHECK(out.severity == Severity::kCritical);
  CHECK(attr(out, "host") == "mymachine.example.com");
  CHECK(attr(out, "app") == "su");
  CHECK_FALSE(attr(out, "pid"));
  CHECK(attr(out, "msgid") == "ID47");
  CHECK(out.message == "'su root' failed for lonvick on /dev/pts/8");  // BOM stripped

  parser->parse(
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's "
      "time to make the do-nuts.",
      out);
  CHECK(out.ts_ns == 1061727255 * kS + 3000);
  CHECK(out.severity == Severity::kNotice);
  CHECK(attr(out, "pid") == "8710");
  CHECK(out.message == "%% It's time to make the do-nuts.");

  line =
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
      "iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 "
      "class=\"high\" note=\"a \\\"quoted\\\" \\] value\"]";
  parser->parse(line, out);
  CHECK(out.format == Format::kSyslog);
  CHECK(attr(out, "exampleSDID@32473.iut") == "3");
  CHECK(attr(out, "exampleSDID@32473.eventSource") == "Application");
  CHECK(attr(out, "exampleSDID@32473.eventID") == "1011");
  CHECK(attr(out, "examplePriority@32473.class") == "high");
  CHECK(attr(out, "examplePriority@32473.note") == "a \"quoted\" ] value");
  CHECK(out.message.empty());
  CHECK(viewsAreInside(out, line));

  parser->parse("<14>1 - - - - - - no time, all nil", out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 0);
  CHECK(out.attrs.empty());
  CHECK(out.message == "no time, all nil");
  // Broken structured data: not syslog, kept as plain text.
  parser->parse("<14>1 2003-10-11T22:14:15.003Z h a - - [id x=\"unterminated] msg", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.attrs.empty());
  CHECK(out.severity == Severity::kInfo);  // findSeverity still reads the PRI
}

TEST_CASE("syslog RFC 3164 with and without PRI") {
  auto parser = makeParser(Format::kAuto);
  ParsedLine out;
  parser->parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1728684855 * kS);  // year 2024 from the options
  CHECK(out.severity == Severity::kCritical);
  CHECK(attr(out, "host") == "mymachine");
  CHECK(attr(out, "app") == "su");
  CHECK(out.message == "'su root' failed for lonvick on /dev/pts/8");

  parser->parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", out);  // RFC 3164 §5.4, no tag
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1707154338 * kS);
  CHECK(out.severity == Severity::kNotice);
  CHECK(attr(out, "host") == "10.0.0.99");
  CHECK_FALSE(attr(out, "app"));
  CHECK(out.message == "Use the BFG!");

  parser->parse(
      "Jan  2 03:04:05 debian sshd[1234]: Accepted publickey for admin from "
      "192.0.2.10 port 50514 ssh2: ED25519 SHA256:abc",
      out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1704164645 * kS);
  CHECK(attr(out, "host") == "debian");
  CHECK(attr(out, "app") == "sshd");
  CHECK(attr(out, "pid") == "1234");
  CHECK(out.severity == Severity::kUnknown);
  CHECK(out.message.substr(0, 18) == "Accepted publickey");

  parser->parse(
      "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= "
      "uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ",
      out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1718378161 * kS);
  CHECK(attr(out, "app") == "sshd(pam_unix)");
  CHECK(attr(out, "pid") == "19939");

  parser->parse(
      "Jan  2 03:17:01 debian CRON[5678]: (root) CMD (cd / && run-parts --report "
      "/etc/cron.hourly)",
      out);
  CHECK(attr(out, "app") == "CRON");
  CHECK(out.message.substr(0, 6) == "(root)");

  parser->parse("Jan  2 03:04:05 debian kernel: [ 1234.567890] EXT4-fs error (device sda1): x",
                out);
  CHECK(attr(out, "app") == "kernel");
  CHECK_FALSE(attr(out, "pid"));
  CHECK(out.message == "[ 1234.567890] EXT4-fs error (device sda1): x");

  // Debian 12's rsyslog: RFC 3339 time, then the 3164 header.
  parser->parse(
      "2024-01-02T03:04:05.123456+01:00 debian systemd[1]: Started session-3.scope - "
      "Session 3 of User admin.",
      out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.ts_ns == 1704164645123456000 - 3600 * kS);
  CHECK(attr(out, "host") == "debian");
  CHECK(attr(out, "app") == "systemd");
  CHECK(attr(out, "pid") == "1");
  CHECK(out.message == "Started session-3.scope - Session 3 of User admin.");

  parser->parse("<30>2024-01-02T03:04:05Z myhost dockerd[812]: level=warning msg=\"x\"", out);
  CHECK(out.format == Format::kSyslog);
  CHECK(out.severity == Severity::kInfo);  // PRI wins over the text
  CHECK(attr(out, "app") == "dockerd");

  // A month word at the start that is not syslog stays plain text.
  parser->parse("Mar is a month", out);
  CHECK(out.format == Format::kPlain);
  parser->parse("Jan  2 03:04:05 no tag here at all", out);
  CHECK(out.format == Format::kPlain);
  CHECK(out.ts_ns == 1704164645 * kS);
}

TEST_CASE("syslog: bad PRI values") {
  auto parser = makeParser(Format::kSyslog);
  ParsedLine out;
  for (const char* line : {"<192>1 - - - - - - x", "<>x", "<1234>x", "<12", "<a>x"}) {
    CAPTURE(line);
    parser->parse(line, out);
    CHECK(out.format == Format::kPlain);
  }
}
