// Spans to call edges: OTLP/JSON and the compact form, parents in this request or another,
// same-service pairs dropped, limits.
#include "aggregator/graph/span_edges.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace faultline;
using namespace faultline::aggregator;

namespace {

std::map<std::string, std::int64_t> calls(const std::vector<store::GraphEdge>& edges) {
  std::map<std::string, std::int64_t> out;
  for (const store::GraphEdge& edge : edges) {
    CHECK(edge.origin == store::EdgeOrigin::Spans);
    out[edge.from + ">" + edge.to] = edge.weight;
  }
  return out;
}

graph::SpanRecord span(std::string trace, std::string id, std::string parent, std::string service) {
  return {std::move(trace), std::move(id), std::move(parent), std::move(service)};
}

}  // namespace

TEST_CASE("spans: OTLP/JSON resources give each span its service") {
  auto parsed = graph::parseSpans(R"({"resourceSpans": [
    {"resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "h1"}},
                                 {"key": "service.name", "value": {"stringValue": "frontend"}}]},
     "scopeSpans": [{"scope": {"name": "x"}, "spans": [
        {"traceId": "t1", "spanId": "a", "name": "GET /"},
        {"traceId": "t1", "spanId": "a2", "parentSpanId": "a"}]}]},
    {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
     "scopeSpans": [{"spans": [{"traceId": "t1", "spanId": "b", "parentSpanId": "a2"},
                               {"traceId": "t1", "spanId": "c", "parentSpanId": "b"}]}]},
    {"resource": {"attributes": []},
     "scopeSpans": [{"spans": [{"traceId": "t1", "spanId": "d", "parentSpanId": "c"}]}]}]})");
  REQUIRE_MESSAGE(parsed.isOk(), parsed.status().toString());
  CHECK(parsed->spans.size() == 4);
  CHECK(parsed->skipped == 1);  // no service.name
  CHECK(parsed->spans[2].service == "cart");
  CHECK(parsed->spans[2].parent_span_id == "a2");

  graph::SpanEdgeLearner learner;
  auto edges = learner.pair("tnt_a", parsed->spans, 100);
  // frontend->frontend and cart->cart are within one service: not edges.
  CHECK(calls(edges) == std::map<std::string, std::int64_t>{{"frontend>cart", 1}});
  CHECK(edges[0].first_seen_ns == 100);
}

TEST_CASE("spans: compact form, counts per pair, children before their parents") {
  auto parsed = graph::parseSpans(R"({"spans": [
    {"trace_id": "t", "span_id": "2", "parent_span_id": "1", "service": "api"},
    {"trace_id": "t", "span_id": "1", "service": "web"},
    {"trace_id": "t", "span_id": "3", "parent_span_id": "1", "service": "api"},
    {"trace_id": "t", "span_id": "4", "parent_span_id": "2", "service": "db"},
    {"trace_id": "u", "span_id": "1", "parent_span_id": "9", "service": "db"}]})");
  REQUIRE(parsed.isOk());
  graph::SpanEdgeLearner learner;
  CHECK(calls(learner.pair("tnt_a", parsed->spans, 1)) ==
        std::map<std::string, std::int64_t>{{"web>api", 2}, {"api>db", 1}});
}

TEST_CASE("spans: a parent in an earlier or a later request still pairs, per tenant") {
  graph::SpanEdgeLearner learner;
  CHECK(learner.pair("tnt_a", {span("t", "p", "", "web")}, 1).empty());
  // The parent came before: paired from memory.
  CHECK(calls(learner.pair("tnt_a", {span("t", "c", "p", "api")}, 2)) ==
        std::map<std::string, std::int64_t>{{"web>api", 1}});
  // Another tenant never pairs with tenant A's spans.
  CHECK(learner.pair("tnt_b", {span("t", "c2", "p", "api")}, 2).empty());
  // The child comes first: it waits for its parent.
  CHECK(learner.pair("tnt_a", {span("t2", "child", "late", "db")}, 3).empty());
  CHECK(calls(learner.pair("tnt_a", {span("t2", "late", "", "api")}, 4)) ==
        std::map<std::string, std::int64_t>{{"api>db", 1}});
  // Paired once: the same parent again does not count the waiting child twice.
  CHECK(learner.pair("tnt_a", {span("t2", "late", "", "api")}, 5).empty());
}

TEST_CASE("spans: memory is bounded, oldest spans forgotten first") {
  graph::SpanEdgeLearner learner(2);
  learner.pair("tnt_a", {span("t", "1", "", "a"), span("t", "2", "", "b"), span("t", "3", "", "c")},
               1);
  CHECK(learner.pair("tnt_a", {span("t", "x", "1", "z")}, 2).empty());  // "1" was forgotten
  CHECK(calls(learner.pair("tnt_a", {span("t", "y", "3", "z")}, 2)) ==
        std::map<std::string, std::int64_t>{{"c>z", 1}});
}

TEST_CASE("spans: bad bodies are refused with the offending path") {
  auto message = [](std::string_view body) {
    auto parsed = graph::parseSpans(body);
    REQUIRE_FALSE(parsed.isOk());
    return parsed.status().message();
  };
  CHECK(message("not json") == "not valid JSON");
  CHECK(message("[]").starts_with("$:"));
  CHECK(message("{}").starts_with("$:"));
  CHECK(message(R"({"spans": [], "resourceSpans": []})").starts_with("$:"));
  CHECK(message(R"({"spans": [1]})") == "spans[0]: expected an object");
  CHECK(message(R"({"spans": [{"span_id": 7}]})") == "spans[0].span_id: expected a string");
  CHECK(message(R"({"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]})") ==
        "resourceSpans[0].scopeSpans[0].spans: expected an array");
  CHECK(message(R"({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                   "value": 3}]}}]})") ==
        "resourceSpans[0].resource.attributes[0].value: expected an AnyValue object");
  std::string long_id(graph::kMaxSpanIdBytes + 1, 'a');
  CHECK(message(R"({"spans": [{"span_id": ")" + long_id + R"("}]})")
            .starts_with("spans[0].span_id: at most"));
  std::string huge(graph::kMaxSpanBodyBytes + 1, ' ');
  CHECK(graph::parseSpans(huge).status().code() == Errc::ResourceExhausted);
  // Spans with no id or no usable service are skipped, not fatal.
  auto skipped = graph::parseSpans(R"({"spans": [{"span_id": "", "service": "a"},
                                                 {"span_id": "1", "service": ""},
                                                 {"span_id": "2", "service": "ok"}]})");
  REQUIRE(skipped.isOk());
  CHECK(skipped->spans.size() == 1);
  CHECK(skipped->skipped == 2);
}
