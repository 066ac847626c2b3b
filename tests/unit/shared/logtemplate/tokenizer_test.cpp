// The generic masks: which token shapes become "<*>" and which stay literal.
#include "shared/logtemplate/tokenizer.h"

#include <doctest/doctest.h>

#include <string>

using faultline::logtemplate::maskedText;
using faultline::logtemplate::TokenizedLine;
using faultline::logtemplate::tokenizeLine;
using faultline::logtemplate::TokenizeStatus;

namespace {
struct MaskCase {
  const char* token;
  const char* masked;
};

// Values: masked.
constexpr MaskCase kVariables[] = {
    {"42", "<*>"},
    {"-17", "<*>"},
    {"+3.5", "<*>"},
    {"0.023958297", "<*>"},
    {"0x1F", "<*>"},
    {"12ms", "<*>"},
    {"126MB", "<*>"},
    {"1s0ms", "<*>"},
    {"10.0.0.1", "<*>"},
    {"10.0.0.1:8080", "<*>:<*>"},
    {"/10.251.42.84", "<*>"},
    {"[fe80::1]:443", "[<*>]:<*>"},
    {"::1", "<*>"},
    {"2001:db8::ff00:42:8329", "<*>"},
    {"00:1a:2b:3c:4d:5e", "<*>"},
    {"FF:F2:9F:16:E2:23:00:0D:60:E9:1D:DC", "<*>"},
    {"07:07:00", "<*>:<*>:<*>"},
    {"2017-05-16", "<*>"},
    {"2026-08-20T00:00:00.000Z", "<*>:<*>:<*>"},
    {"b9000564-fe1a-409b-b8cc-1e88b294cd1d", "<*>"},
    {"[instance:", "[instance:"},
    {"/var/log/syslog", "<*>"},
    {"path=/api/v1/orders", "path=<*>"},
    {"'/udev/vcsa2'", "'<*>'"},
    {"./run.sh", "<*>"},
    {"hdfs://10.10.34.11:9000/pjhe/logs/2kSOSP.log:21876+7292", "hdfs://<*>"},
    {"spark://CoarseGrainedScheduler@10.10.34.11:48069", "spark://<*>"},
    {"bob@example.com", "<*>"},
    {"user_004562@example.com", "<*>"},
    {"pid=28493", "pid=<*>"},
    {"ready=true,policy=3", "ready=<*>,policy=<*>"},
    {"true", "<*>"},
    {"FALSE", "<*>"},
    {"ws=null,", "ws=<*>,"},
    {"(false)", "(<*>)"},
    {"blk_38865049064139660", "<*>"},
    {"blk_-5815145248455404269", "<*>"},
    {"attempt_1445144423722_0020_m_000000_0", "<*>"},
    {"rdd_2_0", "<*>"},
    {"broadcast_9_piece0", "<*>"},
    {"n219076184117", "<*>"},
    {"v1.2.3", "<*>"},
    {"product:403458:v7", "product:<*>:<*>"},
    {"core.2275", "core.<*>"},
    {"jetty-6.1.26", "jetty-<*>"},
    {"instruction......0", "instruction......<*>"},
    {"msra-sa-41", "<*>"},
    {"mesos-slave-07", "<*>"},
    {"cp-1.slowvm1.tcloud-pg0.utah.cloudlab.us", "<*>"},
    {"MSRA-SA-39.fareast.corp.microsoft.com", "<*>"},
    {"msra-sa-41/10.190.173.170:9000", "<*>/<*>:<*>"},
    {"BP-1347369012-10.190.173.170-1444972147527:blk_1073743512_2731", "BP-<*>:<*>"},
    {"ffffffff", "<*>"},
    {"e204f60", "<*>"},
    {"003a90fc", "<*>"},
    {"HTTP/1.1", "<*>"},
    {"curl/8.5.0", "<*>"},
    {"vCores:-17>", "vCores:<*>"},
    {"#42", "#<*>"},
    {"SKU-84847", "SKU-<*>"},
    {"0.0userId=0", "<*>.0userId=<*>"},
    {"Fri Jun 17 07:07:00 2005", "<*> <*> <*> <*>:<*>:<*> <*>"},
    {"17 Jun 2005", "<*> <*> <*>"},
};

// Names and words: literal.
constexpr const char* kLiterals[] = {
    "request",
    "jk2_init()",
    "Slf4jLogger",
    "PSR0",
    "e820",
    "x86_64",
    "bglio559",
    "u0",
    "mapreduce.v2.api",
    "0userId",
    "user=root",
    "tty=NODEVssh",
    "May",
    "May I",
    "A1",
    "http://wiki.apache.org/hadoop/NoRouteToHost",
    "com.acme.Handler1.process",
    "BLOCK*",
    "a<b",
    "/",
    "LABEL=/",
    "deadline",
    "Intel(R)",
    "org.apache.hadoop.mapreduce.jobhistory.EventType",
};
}  // namespace

TEST_CASE("masks: values become <*>") {
  for (const MaskCase& c : kVariables) {
    CAPTURE(c.token);
    CHECK(maskedText(c.token) == c.masked);
  }
}

TEST_CASE("masks: names and words stay literal") {
  for (const char* token : kLiterals) {
    CAPTURE(token);
    CHECK(maskedText(token) == token);
  }
}

TEST_CASE("masks: a whole line keeps every byte outside the holes") {
  CHECK(maskedText("Received block blk_-1 of size 67108864 from /10.251.42.84") ==
        "Received block <*> of size <*> from <*>");
  CHECK(maskedText("  two  spaces\tand a tab 7 ") == "  two  spaces\tand a tab <*> ");
  CHECK(maskedText("") == "");
}

TEST_CASE("tokenizer: words, holes, spacing and refusals") {
  TokenizedLine t;
  REQUIRE(tokenizeLine("a b=1 c", 256, t) == TokenizeStatus::Ok);
  CHECK(t.words.size() == 3);
  CHECK(t.holes.size() == 1);
  CHECK(t.single_spaced);
  REQUIRE(tokenizeLine(" a", 256, t) == TokenizeStatus::Ok);
  CHECK_FALSE(t.single_spaced);
  REQUIRE(tokenizeLine("a  b", 256, t) == TokenizeStatus::Ok);
  CHECK_FALSE(t.single_spaced);
  CHECK(tokenizeLine("a b c", 2, t) == TokenizeStatus::TooManyWords);
  CHECK(tokenizeLine("a\nb", 256, t) == TokenizeStatus::Unrepresentable);
  CHECK(tokenizeLine("x <*> y", 256, t) == TokenizeStatus::Unrepresentable);

  // Lines that differ only in their values have the same shape; other bytes change it.
  TokenizedLine u;
  REQUIRE(tokenizeLine("took 12 ms from 10.0.0.1", 256, t) == TokenizeStatus::Ok);
  REQUIRE(tokenizeLine("took 3456 ms from 192.168.1.20", 256, u) == TokenizeStatus::Ok);
  CHECK(t.shape_hash == u.shape_hash);
  REQUIRE(tokenizeLine("took 12 us from 10.0.0.1", 256, u) == TokenizeStatus::Ok);
  CHECK(t.shape_hash != u.shape_hash);
}
