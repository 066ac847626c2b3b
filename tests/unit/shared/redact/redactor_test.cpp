// Every built-in detector with realistic positives (fake values in real formats) and the near
// misses a log is full of; placeholders, counts, options and custom patterns.
#include "shared/redact/redactor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace faultline;
using namespace faultline::redact;

namespace {

const Redactor& allDetectors() {
  static const std::unique_ptr<Redactor> r = [] {
    auto made = Redactor::create({});
    REQUIRE(made.isOk());
    return std::move(made).value();
  }();
  return *r;
}

// The redacted line, or the line itself when nothing was found.
std::string redacted(std::string_view line, const Redactor& r = allDetectors(),
                     RedactStats* stats = nullptr) {
  RedactStats local;
  std::string out = "untouched";
  if (!r.redact(line, out, stats != nullptr ? *stats : local)) {
    CHECK(out == "untouched");
    return std::string(line);
  }
  return out;
}

std::uint64_t count(const RedactStats& s, Kind k) {
  return s.by_kind[static_cast<std::size_t>(k)];
}

// Built at run time so no scanner flags these fake secrets in the source.
const std::string kJwt =
    std::string("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9") + "." +
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ" + "." +
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const std::string kAwsId = std::string("AKIA") + "IOSFODNN7EXAMPLE";
const std::string kAwsSecret = std::string("wJalrXUtnFEMI/K7MDENG/") + "bPxRfiCYEXAMPLEKEY";
const std::string kGcp = std::string("AIza") + "SyA1fakefakefake_fake-FAKEfake12345";
const std::string kGithub = std::string("ghp_") + "FAKEfake0123456789FAKEfake0123456789";
const std::string kGithubPat =
    std::string("github_pat_") + "11ABCDEFG0fakefakefakefake_" + "FAKEfakeFAKEfake0123456789";
const std::string kGitlab = std::string("glpat-") + "FaKe0123456789abcdEF";
const std::string kSlack = std::string("xoxb-") + "1234567890-0987654321-FAKEfakeFAKEfake";
const std::string kStripe = std::string("sk_live_") + "FAKE4eC39HqLyjWDarjtT1zd";
const std::string kPem = std::string("-----BEGIN RSA PRIVATE KEY-----\n") +
                         "MIIEpAIBAAKCAQEAfakefakefakefakeFAKE0123456789+/abcd\n" +
                         "FAKEfakeFAKEfake0123456789==\n" + "-----END RSA PRIVATE KEY-----";

}  // namespace

TEST_CASE("redact: kind names are the documented ones") {
  CHECK(kindName(Kind::kBearer) == "bearer");
  CHECK(kindName(Kind::kJwt) == "jwt");
  CHECK(kindName(Kind::kCloudKey) == "cloud_key");
  CHECK(kindName(Kind::kUrlPassword) == "url_password");
  CHECK(kindName(Kind::kPassword) == "password");
  CHECK(kindName(Kind::kPrivateKey) == "private_key");
  CHECK(kindName(Kind::kEmail) == "email");
  CHECK(kindName(Kind::kCard) == "card");
  CHECK(kindName(Kind::kCustom) == "custom");
}

TEST_CASE("redact: lines with nothing to redact are left alone") {
  const char* clean[] = {
      "",
      "x",
      ("2026-08-20T00:00:01.123Z INFO  [api-gateway] host=ip-10-0-1-17 pid=4242 request completed "
       "method=GET path=/api/v1/orders/123 status=200 duration_ms=12 bytes=5120 "
       "client_ip=203.0.113.7 trace_id=4bf92f3577b34da6a3ce929d0e0e4736"),
      ("User user_000123 logged in from 10.1.2.3 session=0f8fad5b-d9cb-469f-a165-70867728950e "
       "mfa=true method=password"),
      "Cache hit key=product:123456:v2 region=us-east-1 ttl_s=300",
      "usage prompt_tokens=12 completion_tokens=40 token_count=5 max_tokens=4096 tokens=7",
      "template=reset_password auth_method=sso password_set=true passwordless=false",
      "bypass=1 compass=north monkey=3 hotkey=ctrl keyboard=us",
      "the client sent a Bearer token for auth",
      "payload eyJhbGciOiJIUzI1NiJ9 is base64 JSON, eyJhbGciOiJIUzI1NiJ9.only-one-dot is not a JWT",
      "order 4111111111111112 id 1234567890123456 epoch_ms=1724112000123 offset=9876543210",
      "uuid 123e4567-e89b-12d3-a456-426614174000 and 4111-1111-1111-abcd and 4111111111111111abc",
      "ipv6 fe80::1ff:fe23:4567:890a ipv4 192.168.100.200 port 10.0.0.1:5432",
      "see http://example.com:8080/path?q=1 and ssh bob@10.0.0.1 and user@localhost",
      "-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n-----END CERTIFICATE-----",
      "AKIA1234 ghp_short glpat-short xoxb-1 sk_live_short AIzaShort",
      "version 4.1.1111111111111 build 1111 2222 3333 4444",
      "phone +1 555 123 4567 date 2026-08-20 time 12:34:56",
      "PWD=/home/app OLDPWD=~/src",
      "password=\"\" token= secret=null api_key=true",
      "password=[REDACTED:password] url=https://bob:[REDACTED:url_password]@db.example.com",
  };
  for (const char* line : clean) {
    CAPTURE(line);
    CHECK(redacted(line) == line);
  }
}

TEST_CASE("redact: secret-named key=value pairs in every common syntax") {
  CHECK(redacted("password=hunter2") == "password=[REDACTED:password]");
  CHECK(redacted("login ok db_password=s3cr3t! user=bob") ==
        "login ok db_password=[REDACTED:password] user=bob");
  CHECK(redacted("PGPASSWORD=pw123 MYSQL_PWD=pw456 DB_PASS=pw789 passwd=a") ==
        "PGPASSWORD=[REDACTED:password] MYSQL_PWD=[REDACTED:password] "
        "DB_PASS=[REDACTED:password] passwd=[REDACTED:password]");
  CHECK(redacted("client_secret: abc123") == "client_secret: [REDACTED:password]");
  CHECK(redacted(R"({"user":"bob","password":"p\"w d","n":1})") ==
        R"({"user":"bob","password":"[REDACTED:password]","n":1})");
  CHECK(redacted(R"({"access_token" : "tok-1", "refresh_token": "tok-2"})") ==
        R"({"access_token" : "[REDACTED:password]", "refresh_token": "[REDACTED:password]"})");
  CHECK(redacted(R"(msg="{\"apiKey\":\"k-123\"}")") ==
        R"(msg="{\"apiKey\":\"[REDACTED:password]\"}")");
  CHECK(redacted("secret='two words' next=1") == "secret='[REDACTED:password]' next=1");
  CHECK(redacted("X-Api-Key: 0123abcd") == "X-Api-Key: [REDACTED:password]");
  CHECK(redacted("GET /cb?code=1&access_token=tok123&state=x") ==
        "GET /cb?code=1&access_token=[REDACTED:password]&state=x");
  CHECK(redacted("{:password => \"pw\", \"api-key\"=>\"k\"}") ==
        "{:password => \"[REDACTED:password]\", \"api-key\"=>\"[REDACTED:password]\"}");
  CHECK(redacted("dbPassword=pw1 basicAuth=u:p session_token=st private_key=pk signing.key=sk") ==
        "dbPassword=[REDACTED:password] basicAuth=[REDACTED:password] "
        "session_token=[REDACTED:password] private_key=[REDACTED:password] "
        "signing.key=[REDACTED:password]");
  CHECK(redacted("credentials=c1,credential=c2;passphrase=c3") ==
        "credentials=[REDACTED:password],credential=[REDACTED:password];"
        "passphrase=[REDACTED:password]");
  CHECK(redacted("PWD=relative-looking-secret") == "PWD=[REDACTED:password]");
  CHECK(redacted("token=5") == "token=[REDACTED:password]");
}

TEST_CASE("redact: aws_secret_access_key is a cloud key, Cookie headers run to the line end") {
  RedactStats stats;
  CHECK(redacted("aws_secret_access_key = " + kAwsSecret, allDetectors(), &stats) ==
        "aws_secret_access_key = [REDACTED:cloud_key]");
  CHECK(count(stats, Kind::kCloudKey) == 1);
  CHECK(redacted("AWS_SECRET_ACCESS_KEY=" + kAwsSecret + " region=eu") ==
        "AWS_SECRET_ACCESS_KEY=[REDACTED:cloud_key] region=eu");
  CHECK(redacted("Cookie: session=abc; theme=dark\nnext line") ==
        "Cookie: [REDACTED:password]\nnext line");
  CHECK(redacted("Set-Cookie: id=a3fWa; Path=/; HttpOnly") == "Set-Cookie: [REDACTED:password]");
  CHECK(redacted("cookie=abc theme=dark") == "cookie=[REDACTED:password] theme=dark");
}

TEST_CASE("redact: bearer tokens in headers, JSON and text") {
  RedactStats stats;
  CHECK(redacted("Authorization: Bearer abc.def", allDetectors(), &stats) ==
        "Authorization: Bearer [REDACTED:bearer]");
  CHECK(count(stats, Kind::kBearer) == 1);
  CHECK(redacted("curl -H 'authorization: bearer Zm9vYmFy+/==' https://api") ==
        "curl -H 'authorization: bearer [REDACTED:bearer]' https://api");
  CHECK(redacted(R"({"headers":{"Authorization":"Bearer t0k3n-value"}})") ==
        R"({"headers":{"Authorization":"Bearer [REDACTED:bearer]"}})");
  CHECK(redacted("Authorization: Basic dXNlcjpwYXNz") ==
        "Authorization: Basic [REDACTED:password]");
  CHECK(redacted("Proxy-Authorization: Negotiate YIIabc def") ==
        "Proxy-Authorization: [REDACTED:password]");
  CHECK(redacted("upstream sent Bearer 9f8e7d6c5b4a39281706f5e4 to svc") ==
        "upstream sent Bearer [REDACTED:bearer] to svc");
  CHECK(redacted("token: Bearer abc") == "token: Bearer [REDACTED:bearer]");
}

TEST_CASE("redact: JWTs anywhere") {
  RedactStats stats;
  CHECK(redacted("jwt " + kJwt + " ok", allDetectors(), &stats) == "jwt [REDACTED:jwt] ok");
  CHECK(count(stats, Kind::kJwt) == 1);
  CHECK(redacted("https://app/cb#id_token=" + kJwt + "&x=1") ==
        "https://app/cb#id_token=[REDACTED:jwt]&x=1");
  CHECK(redacted("Authorization: Bearer " + kJwt) == "Authorization: Bearer [REDACTED:jwt]");
  // Unsigned token: empty signature.
  CHECK(redacted("t=eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. next") == "t=[REDACTED:jwt] next");
  CHECK(redacted(kJwt) == "[REDACTED:jwt]");
}

TEST_CASE("redact: cloud provider keys and tokens") {
  RedactStats stats;
  const std::string line = "ids " + kAwsId + " " + kGcp + " " + kGithub + " " + kGithubPat + " " +
                           kGitlab + " " + kSlack + " " + kStripe + " end";
  CHECK(redacted(line, allDetectors(), &stats) ==
        "ids [REDACTED:cloud_key] [REDACTED:cloud_key] [REDACTED:cloud_key] "
        "[REDACTED:cloud_key] [REDACTED:cloud_key] [REDACTED:cloud_key] [REDACTED:cloud_key] end");
  CHECK(count(stats, Kind::kCloudKey) == 7);
  CHECK(stats.lines_redacted == 1);
  CHECK(redacted("AWS_ACCESS_KEY_ID=" + kAwsId) == "AWS_ACCESS_KEY_ID=[REDACTED:cloud_key]");
  CHECK(redacted("ASIA" + std::string("Y34FZKBOKMUTVV7A,next")) == "[REDACTED:cloud_key],next");
  CHECK(redacted("https://x-access-token:" + std::string("ghs_") +
                 "FAKEfake0123456789FAKEfake0123456789@github.com/o/r.git") ==
        "https://x-access-token:[REDACTED:cloud_key]@github.com/o/r.git");
  CHECK(redacted("key sk-proj-FAKEfake0123456789FAKEfake0123456789abcd") ==
        "key [REDACTED:cloud_key]");
  // Near misses: wrong length, lower case, embedded in a longer token.
  CHECK(redacted("AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX akiaiosfodnn7example") ==
        "AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX akiaiosfodnn7example");
  CHECK(redacted("prefix" + kGithub) == "prefix" + kGithub);
  CHECK(redacted("sk_test_FAKE4eC39HqLyjWDarjtT1zd") == "sk_test_FAKE4eC39HqLyjWDarjtT1zd");
}

TEST_CASE("redact: passwords in URLs, only the password") {
  RedactStats stats;
  CHECK(redacted("connecting to postgres://app:s3cret@db.internal:5432/orders", allDetectors(),
                 &stats) ==
        "connecting to postgres://app:[REDACTED:url_password]@db.internal:5432/orders");
  CHECK(count(stats, Kind::kUrlPassword) == 1);
  CHECK(count(stats, Kind::kEmail) == 0);
  CHECK(redacted("redis://:p4ss@cache:6379") == "redis://:[REDACTED:url_password]@cache:6379");
  CHECK(redacted("amqp://user:p@ss@mq.example.com/vhost") ==
        "amqp://user:[REDACTED:url_password]@mq.example.com/vhost");
  CHECK(redacted("\"https://user:pw@example.com\"") ==
        "\"https://user:[REDACTED:url_password]@example.com\"");
  // No password: kept (and not an e-mail either).
  CHECK(redacted("ftp://anonymous@ftp.example.com/pub") == "ftp://anonymous@ftp.example.com/pub");
}

TEST_CASE("redact: e-mail addresses") {
  RedactStats stats;
  CHECK(redacted("Email queued to=user_000123@example.com template=welcome", allDetectors(),
                 &stats) == "Email queued to=[REDACTED:email] template=welcome");
  CHECK(count(stats, Kind::kEmail) == 1);
  CHECK(redacted("a.b+tag@sub.example.co.uk, x@y.io.") == "[REDACTED:email], [REDACTED:email].");
  CHECK(redacted("<first.last@mail.acme.io>") == "<[REDACTED:email]>");
  CHECK(redacted("mailto:bob@example.org") == "mailto:[REDACTED:email]");
  CHECK(redacted("user@host user@10.0.0.1 @example.com a@b.c a@b_c.com") ==
        "user@host user@10.0.0.1 @example.com a@b.c a@b_c.com");
}

TEST_CASE("redact: card numbers, Luhn-checked with a known issuer") {
  RedactStats stats;
  CHECK(redacted("visa 4111111111111111 mc 5555555555554444 amex 378282246310005", allDetectors(),
                 &stats) == "visa [REDACTED:card] mc [REDACTED:card] amex [REDACTED:card]");
  CHECK(count(stats, Kind::kCard) == 3);
  CHECK(redacted("card=4111 1111 1111 1111 exp=12/29") == "card=[REDACTED:card] exp=12/29");
  CHECK(redacted("card:4111-1111-1111-1111.") == "card:[REDACTED:card].");
  CHECK(redacted("amex 3782 822463 10005 ok") == "amex [REDACTED:card] ok");
  CHECK(redacted("2-series 2223003122003222, discover 6011111111111117, jcb 3530111333300000") ==
        "2-series [REDACTED:card], discover [REDACTED:card], jcb [REDACTED:card]");
  CHECK(redacted("pan 4111 1111 1111 1111 2029") == "pan [REDACTED:card] 2029");
  CHECK(redacted("4012888888881881") == "[REDACTED:card]");
  // Near misses.
  CHECK(redacted("4111111111111112 9111111111111111 41111111111 4111 1111 1111 111") ==
        "4111111111111112 9111111111111111 41111111111 4111 1111 1111 111");
  CHECK(redacted("id-4111111111111111 v1.4111111111111111 4111111111111111-ab x4111111111111111") ==
        "id-4111111111111111 v1.4111111111111111 4111111111111111-ab x4111111111111111");
  CHECK(redacted("4111  1111 1111 1111 and 4111 1111-1111 1111") ==
        "4111  1111 1111 1111 and 4111 1111-1111 1111");
}

TEST_CASE("redact: PEM private key blocks, joined, escaped, unterminated") {
  RedactStats stats;
  CHECK(redacted("key loaded:\n" + kPem + "\ndone", allDetectors(), &stats) ==
        "key loaded:\n[REDACTED:private_key]\ndone");
  CHECK(count(stats, Kind::kPrivateKey) == 1);
  CHECK(redacted("-----BEGIN PRIVATE KEY----- MIIfake== -----END PRIVATE KEY----- tail") ==
        "[REDACTED:private_key] tail");
  CHECK(
      redacted(
          R"({"key":"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n","n":1})") ==
      R"({"key":"[REDACTED:private_key]\n","n":1})");
  CHECK(redacted("truncated -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIfake\nmore") ==
        "truncated [REDACTED:private_key]");
  CHECK(redacted(R"({"k":"-----BEGIN PRIVATE KEY-----\nMIIfake","n":1})") ==
        R"({"k":"[REDACTED:private_key]","n":1})");
  CHECK(redacted(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQfake\n-----END PGP PRIVATE KEY BLOCK-----") ==
        "[REDACTED:private_key]");
}

TEST_CASE("redact: several findings per line, at both ends, overlapping ones merged") {
  RedactStats stats;
  CHECK(redacted("bob@example.com password=pw 4111111111111111", allDetectors(), &stats) ==
        "[REDACTED:email] password=[REDACTED:password] [REDACTED:card]");
  CHECK(count(stats, Kind::kEmail) == 1);
  CHECK(count(stats, Kind::kPassword) == 1);
  CHECK(count(stats, Kind::kCard) == 1);
  CHECK(stats.lines_redacted == 1);
  // A JWT as a password value: one placeholder, the more specific kind.
  RedactStats overlap;
  CHECK(redacted("token=" + kJwt, allDetectors(), &overlap) == "token=[REDACTED:jwt]");
  CHECK(count(overlap, Kind::kJwt) == 1);
  CHECK(count(overlap, Kind::kPassword) == 0);
  // An e-mail inside a password value: the union is redacted, under the password kind.
  CHECK(redacted("password=bob@example.com!x") == "password=[REDACTED:password]");
  CHECK(redacted("api_key=" + kGithub + " ok") == "api_key=[REDACTED:cloud_key] ok");
}

TEST_CASE("redact: detector selection turns kinds off") {
  RedactOptions o;
  o.detectors = {"password", "card"};
  auto r = Redactor::create(o);
  REQUIRE(r.isOk());
  CHECK(redacted("to=bob@example.com password=x card 4111111111111111 t=" + kJwt, **r) ==
        "to=bob@example.com password=[REDACTED:password] card [REDACTED:card] t=" + kJwt);
  RedactOptions bearer_only;
  bearer_only.detectors = {"bearer"};
  auto b = Redactor::create(bearer_only);
  REQUIRE(b.isOk());
  CHECK(redacted("Authorization: Bearer abc password=x", **b) ==
        "Authorization: Bearer [REDACTED:bearer] password=x");
}

TEST_CASE("redact: invalid options are rejected with clear errors") {
  auto expectError = [](const RedactOptions& o, std::string_view fragment) {
    auto r = Redactor::create(o);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.code() == Errc::InvalidArgument);
    CAPTURE(r.status().message());
    CHECK(r.status().message().find(fragment) != std::string::npos);
  };
  RedactOptions o;
  o.detectors = {"emails"};
  expectError(o, "unknown detector \"emails\"");
  o.detectors = {"custom"};
  expectError(o, "not a built-in detector");
  o.detectors.clear();
  o.custom = {{"Order_ID", "ord-\\d+"}};
  expectError(o, "[a-z0-9_]");
  o.custom = {{"", "x"}};
  expectError(o, "name must be");
  o.custom = {{std::string(33, 'a'), "x"}};
  expectError(o, "name must be");
  o.custom = {{"my-id", "x"}};
  expectError(o, "name must be");
  o.custom = {{"email", "x@y"}};
  expectError(o, "built-in kind");
  o.custom = {{"a", "x"}, {"a", "y"}};
  expectError(o, "used twice");
  o.custom = {{"a", ""}};
  expectError(o, "pattern must be");
  o.custom = {{"a", "ord-(\\d+"}};
  expectError(o, "bad RE2 pattern");
  o.custom = {{"a", "x*"}};
  expectError(o, "matches the empty string");
  o.custom.assign(65, CustomPattern{"a", "x"});
  expectError(o, "at most 64");
}

TEST_CASE("redact: custom patterns, with and without a capture group") {
  RedactOptions o;
  o.detectors = {"email"};
  o.custom = {{"order_id", "ord-\\d{6}"},
              {"ssn", "ssn=(\\d{3}-\\d{2}-\\d{4})"},
              {"employee", "(?i)EMP\\d{5}"},
              {"six_digits", "\\b\\d{6}\\b"}};
  auto r = Redactor::create(o);
  REQUIRE(r.isOk());
  RedactStats stats;
  CHECK(redacted("paid ord-123456 and ord-654321 ssn=123-45-6789 by emp00042", **r, &stats) ==
        "paid [REDACTED:order_id] and [REDACTED:order_id] ssn=[REDACTED:ssn] by "
        "[REDACTED:employee]");
  REQUIRE(stats.custom.size() == 4);
  CHECK(stats.custom[0] == 2);
  CHECK(stats.custom[1] == 1);
  CHECK(stats.custom[2] == 1);
  CHECK(stats.custom[3] == 0);
  CHECK(count(stats, Kind::kCustom) == 4);
  // A pattern without a literal (no prefilter possible) still runs.
  CHECK(redacted("pin 424242 ok", **r) == "pin [REDACTED:six_digits] ok");
  CHECK(redacted("nothing here", **r) == "nothing here");
  // Built-in and custom findings together.
  CHECK(redacted("ord-000001 to a@example.com", **r) == "[REDACTED:order_id] to [REDACTED:email]");
}

TEST_CASE("redact: custom matches touching a placeholder are dropped (idempotence)") {
  RedactOptions o;
  o.custom = {{"word", "RED\\w+"}};
  auto r = Redactor::create(o);
  REQUIRE(r.isOk());
  CHECK(redacted("REDWOOD [REDACTED:email]", **r) == "[REDACTED:word] [REDACTED:email]");
}

TEST_CASE("redact: output never keeps a detected secret and redacting twice finds nothing") {
  const std::string lines[] = {
      "password=hunter2 token=abc " + kJwt,          "Authorization: Bearer " + kGithub,
      "postgres://u:" + kStripe + "@h/db",           kPem + " and " + kAwsId,
      "card 5555 5555 5555 4444 to=bob@example.com",
  };
  for (const std::string& line : lines) {
    CAPTURE(line);
    std::string once;
    RedactStats stats;
    REQUIRE(allDetectors().redact(line, once, stats));
    for (const std::string& secret : {kJwt, kGithub, kStripe, kAwsId, std::string("hunter2"),
                                      std::string("5555 5555 5555 4444")}) {
      if (line.find(secret) != std::string::npos) {
        CHECK(once.find(secret) == std::string::npos);
      }
    }
    std::string twice;
    CHECK_FALSE(allDetectors().redact(once, twice, stats));
  }
}

TEST_CASE("redact: spaced and quoted key forms, and empty values") {
  CHECK(redacted("password = hunter2 ok") == "password = [REDACTED:password] ok");
  CHECK(redacted("\"password\" : \"pw\"") == "\"password\" : \"[REDACTED:password]\"");
  CHECK(redacted("'password': 'pw'") == "'password': '[REDACTED:password]'");
  CHECK(redacted("token= next=1 password:") == "token= next=1 password:");
  CHECK(redacted("pwd=x") == "pwd=[REDACTED:password]");  // a key at the very start
  CHECK(redacted("a:pwd=x") == "a:pwd=[REDACTED:password]");
}

TEST_CASE("redact: a placeholder next to text is a boundary no detector crosses") {
  // Shapes a second pass sees: on the first pass the neighbour was other text, so these must
  // not turn into new findings (idempotence; each was found by fuzz_redact).
  const char* lines[] = {
      "[REDACTED:order]pwd=x",                    // key "ord-1pwd" was not secret
      "code@42z.eC-[REDACTED:digits]",            // domain label "eC-123456"
      "a@b.xy[REDACTED:private_key]",             // label ran into "-----BEGIN"
      "378282246310005-[REDACTED:digits]",        // card joined to "-123456"
      "[REDACTED:order]AKIAIOSFODNN7EXAMPLE",     // run began with "ord-1"
      "AKIAIOSFODNN7EXAMPLE[REDACTED:x]",         // run went on
      "x://ZZ[REDACTED:order]@host.example.com",  // ':' of a placeholder is not userinfo
  };
  for (const char* line : lines) {
    CAPTURE(line);
    CHECK(redacted(line) == line);
  }
  // A placeholder-looking text that is not one is ordinary text.
  CHECK(redacted("[REDACTED:Bad Name]pwd=x") == "[REDACTED:Bad Name]pwd=[REDACTED:password]");
}

TEST_CASE("redact: a replacement that makes a new match is redacted in the same call") {
  // Found by fuzz_redact: the spaces of a card number ended a URL password, so the password was
  // only visible once the card was one placeholder word. One call must reach the fixed point.
  RedactStats stats;
  const std::string out =
      redacted("pg://app:d=4111 1111 1111 1111@dbhost/x", allDetectors(), &stats);
  CHECK(out == "pg://app:[REDACTED:url_password]@dbhost/x");
  CHECK(out.find("4111") == std::string::npos);
  CHECK(stats.lines_redacted == 1);
  CHECK(stats.by_kind[static_cast<std::size_t>(Kind::kCard)] == 1);
  CHECK(stats.by_kind[static_cast<std::size_t>(Kind::kUrlPassword)] == 1);
  std::string again;
  RedactStats again_stats;
  CHECK_FALSE(allDetectors().redact(out, again, again_stats));
}

TEST_CASE("redact: long lines, odd bytes and secrets at the very end") {
  std::string line(1 << 20, 'a');
  for (std::size_t i = 0; i < line.size(); i += 97) {
    line[i] = static_cast<char>(i % 256);  // NULs, high bytes, separators, quotes
  }
  line += " password=" + std::string("last");
  RedactStats stats;
  const std::string out = redacted(line, allDetectors(), &stats);
  CHECK(out.ends_with(" password=[REDACTED:password]"));
  CHECK(out.find("last") == std::string::npos);
  CHECK(stats.lines_redacted == 1);
  // Short lines end exactly where a detector wants more bytes.
  for (std::string_view cut :
       {"AKIAIOSFODNN7EXAMPL", "eyJhbGciOiJIUzI1NiJ9.e30", "4111 1111 1111 111",
        "-----BEGIN PRIVATE KE", "a@b.", "x://u:p@", "password=", "Bearer "}) {
    for (std::size_t n = 0; n <= cut.size(); ++n) {
      std::string out2;
      RedactStats s2;
      (void)allDetectors().redact(cut.substr(0, n), out2, s2);
    }
  }
}

TEST_CASE("redact: one redactor shared by threads gives the same results") {
  const std::string line =
      "user=bob@example.com password=pw token=" + kJwt + " card 4111111111111111";
  std::string expected;
  RedactStats expected_stats;
  REQUIRE(allDetectors().redact(line, expected, expected_stats));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::string out;
      RedactStats stats;
      for (int i = 0; i < 2000; ++i) {
        if (!allDetectors().redact(line, out, stats) || out != expected) {
          ++mismatches;
        }
      }
      if (stats.by_kind != [&] {
            auto k = expected_stats.by_kind;
            for (auto& v : k) {
              v *= 2000;
            }
            return k;
          }()) {
        ++mismatches;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(mismatches == 0);
}
