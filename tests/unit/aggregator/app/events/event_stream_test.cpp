// GET /v1/events/stream over real loopback HTTP on each store engine: webhooks posted to the
// receivers arrive on the tenant's stream with their id and decision, another tenant's stream
// sees nothing, filters apply, and a reconnect with Last-Event-ID replays what was missed.
// Then the hub and the streams on their own: limits, heartbeat, the replay/live boundary, and a
// subscriber that falls behind.
#include "aggregator/api/event_stream.h"

#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregator/events/event_hub.h"
#include "aggregator/events/integrations.h"
#include "tests/unit/aggregator/app/auth/auth_test_support.h"
#include "tests/unit/aggregator/app/events/alertmanager_fixtures.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

void post(AuthHarness& h, const std::string& key, const json& body) {
  HttpReply reply =
      h.call("POST", "/v1/hooks/" + key, {{"Content-Type", "application/json"}}, body.dump());
  REQUIRE_MESSAGE(reply.status == 202, reply.body);
}

/// A client holding GET /v1/events/stream open.
struct StreamClient {
  StreamClient(AuthHarness& h, const std::string& token, const std::string& query = "",
               const std::string& last_event_id = "", std::chrono::milliseconds timeout = 5000ms)
      : client(h.port(), timeout) {
    std::string text = "GET /v1/events/stream" + query +
                       " HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token + "\r\n";
    if (!last_event_id.empty()) {
      text += "Last-Event-ID: " + last_event_id + "\r\n";
    }
    REQUIRE(client.send(text + "\r\n"));
    auto head = client.readResponse();
    REQUIRE(head);
    status = head->status;
    content_type = head->header("content-type");
  }

  /// The events received so far, once `count` have arrived (or the timeout): each frame's id
  /// and data.
  std::vector<std::pair<std::string, json>> events(std::size_t count) {
    auto parsed = parse();
    while (parsed.size() < count && client.readMore()) {
      parsed = parse();
    }
    return parsed;
  }

  std::vector<std::pair<std::string, json>> parse() const {
    std::vector<std::pair<std::string, json>> out;
    const std::string& text = client.buffered();
    std::size_t pos = 0;
    while (true) {
      std::size_t end = text.find("\n\n", pos);
      if (end == std::string::npos) {
        break;
      }
      std::string frame = text.substr(pos, end - pos);
      pos = end + 2;
      if (!frame.starts_with("id: ")) {
        continue;  // retry:, comments
      }
      std::size_t id_end = frame.find('\n');
      std::string id = frame.substr(4, id_end - 4);
      REQUIRE(frame.find("\nevent: event\ndata: ") == id_end);
      std::string data = frame.substr(frame.find("\ndata: ") + 7);
      REQUIRE(data.find('\n') == std::string::npos);
      out.emplace_back(id, json::parse(data));
    }
    return out;
  }

  http::testing::Client client;
  int status = 0;
  std::string content_type;
};

}  // namespace

TEST_CASE_TEMPLATE("event stream: live events with decisions, tenants apart, replay on reconnect",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  AuthHarness h(engine.open());
  store::Tenant a = h.tenant("tenant-a");
  store::Tenant b = h.tenant("tenant-b");
  const std::string a_token = h.session(a, h.member(a, "viewer@a.example.com", "viewer"));
  const std::string b_token = h.session(b, h.member(b, "viewer@b.example.com", "viewer"));
  const std::string a_key = alertmanagerHookKey(h, a);
  const std::string b_key = alertmanagerHookKey(h, b);

  StreamClient a_stream(h, a_token);
  StreamClient b_stream(h, b_token, "", "", 400ms);
  REQUIRE(a_stream.status == 200);
  CHECK(a_stream.content_type.starts_with("text/event-stream"));
  REQUIRE(a_stream.client.readUntil("retry: 3000\n\n"));
  StreamClient resolved_only(h, a_token, "?status=resolved", "", 1000ms);

  const auto start = std::chrono::steady_clock::now();
  post(h, a_key, alertmanagerOneAlert("firing", "db-1"));
  auto got = a_stream.events(1);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(got.size() == 1);
  CHECK(took < 1s);
  const std::string first_id = got[0].first;
  CHECK(first_id.starts_with("evt_"));
  CHECK(got[0].second["id"] == first_id);
  CHECK(got[0].second["decision"] == "new");
  CHECK(got[0].second["status"] == "firing");
  CHECK(got[0].second["title"].get<std::string>().find("db-1") != std::string::npos);
  // The same JSON as GET /v1/events lists.
  HttpReply listed = h.call("GET", "/v1/events", {AuthHarness::bearer(a_token)});
  REQUIRE(listed.status == 200);
  CHECK(listed.json()["events"][0] == got[0].second);

  // Tenant B's stream saw nothing of A's; B's own event reaches B only.
  CHECK(b_stream.events(1).empty());
  post(h, b_key, alertmanagerOneAlert("firing", "web-9"));
  auto b_got = b_stream.events(1);
  REQUIRE(b_got.size() == 1);
  CHECK(b_got[0].second["title"].get<std::string>().find("web-9") != std::string::npos);

  // Missed while disconnected: a dedup and a resolve; replayed oldest first, then live.
  a_stream.client.close();
  post(h, a_key, alertmanagerOneAlert("firing", "db-1"));
  post(h, a_key, alertmanagerOneAlert("resolved", "db-1"));
  StreamClient again(h, a_token, "", first_id, 1000ms);
  auto replayed = again.events(2);
  REQUIRE(replayed.size() == 2);
  CHECK(replayed[0].second["decision"] == "deduplicated");
  CHECK(replayed[1].second["decision"] == "resolved");
  post(h, a_key, alertmanagerOneAlert("firing", "db-2"));
  auto after = again.events(3);
  REQUIRE(after.size() == 3);
  CHECK(after[2].second["decision"] == "new");
  CHECK(after[2].second["title"].get<std::string>().find("db-2") != std::string::npos);
  CHECK(again.events(4).size() == 3);  // no duplicate at the boundary
  // The same with ?after= instead of the header.
  StreamClient by_query(h, a_token, "?after=" + first_id);
  CHECK(by_query.events(3).size() == 3);

  // Filters: only the resolve reached the resolved-only stream.
  auto resolved = resolved_only.events(1);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].second["status"] == "resolved");
  CHECK(resolved_only.events(2).size() == 1);

  // B's stream still holds only B's event, and B replaying after A's id gets nothing of A's.
  CHECK(b_stream.events(2).size() == 1);
  StreamClient b_replay(h, b_token, "", first_id, 400ms);
  for (const auto& replayed_to_b : b_replay.events(2)) {
    const std::string title = replayed_to_b.second["title"];
    CHECK(title.find("db-") == std::string::npos);
  }

  // Bad input.
  StreamClient bad_filter(h, a_token, "?severity=loud");
  CHECK(bad_filter.status == 400);
  StreamClient bad_id(h, a_token, "", "not-an-id");
  CHECK(bad_id.status == 400);
  CHECK(h.call("GET", "/v1/events/stream").status == 401);
}

namespace {

store::StoredEvent storedEvent(const std::string& tenant_id, const std::string& id,
                               const std::string& title) {
  store::StoredEvent stored;
  stored.id = id;
  stored.event.tenant_id = tenant_id;
  stored.event.source = events::SourceKind::kGeneric;
  stored.event.service = "api";
  stored.event.title = title;
  stored.event.fingerprint = events::computeFingerprint(stored.event);
  stored.event.received_at_ns = nowUnixNanos();
  stored.event.occurred_at_ns = stored.event.received_at_ns;
  return stored;
}

/// Records one event for real and returns it as stored.
store::StoredEvent record(store::Store& store, const std::string& tenant_id,
                          const std::string& title) {
  store::StoredEvent wanted = storedEvent(tenant_id, "", title);
  auto decisions = store.recordEvents(tenant_id, {wanted.event});
  REQUIRE_MESSAGE(decisions.isOk(), decisions.status().toString());
  return events::storedEvents({wanted.event}, *decisions).front();
}

http::Request streamRequest(const std::string& last_event_id = "") {
  http::Request request;
  request.method = "GET";
  request.path = "/v1/events/stream";
  if (!last_event_id.empty()) {
    request.headers.emplace_back("last-event-id", last_event_id);
  }
  return request;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("event stream: the replay/live boundary has no gap and no duplicate") {
  SqliteEngine engine;
  auto store = engine.open();
  auto tenant = store->createTenant("tenant-a", nowUnixNanos());
  REQUIRE(tenant.isOk());
  auto hub = std::make_shared<events::EventHub>(events::EventHubLimits{}, api::eventStreamFrame);
  api::EventStreams streams(*store, hub, {});
  const store::StoredEvent seen = record(*store, tenant->id, "seen before");
  const store::StoredEvent missed = record(*store, tenant->id, "missed");
  const store::StoredEvent racing = record(*store, tenant->id, "recorded, published late");

  api::EventStreams::Opened opened = streams.open(tenant->id, streamRequest(seen.id));
  REQUIRE(opened.response.stream != nullptr);
  CHECK(hub->stats().subscribers == 1);
  // Published while the replay has not read the store yet: one event the replay will also
  // find, one newer than the replay's read.
  hub->publish(tenant->id, {racing});
  const store::StoredEvent fresh = record(*store, tenant->id, "fresh");
  opened.then();
  hub->publish(tenant->id, {fresh});   // the replay sent it: dropped
  hub->publish(tenant->id, {racing});  // a late duplicate publish is dropped too
  const store::StoredEvent live = record(*store, tenant->id, "live");
  hub->publish(tenant->id, {live});
  const std::string text = opened.response.stream->take().data;
  CHECK(count(text, "id: " + seen.id) == 0);
  CHECK(count(text, "id: " + missed.id) == 1);
  CHECK(count(text, "id: " + racing.id) == 1);
  CHECK(count(text, "id: " + fresh.id) == 1);
  CHECK(text.find(missed.id) < text.find(racing.id));
  CHECK(text.find(racing.id) < text.find(fresh.id));
  CHECK(count(text, "id: " + live.id) == 1);
  CHECK(text.find(fresh.id) < text.find(live.id));
  CHECK(text.starts_with("retry: 3000\n\n"));

  opened.response.stream->finish();  // as the server does when the client leaves
  CHECK(hub->stats().subscribers == 0);
}

TEST_CASE("event stream: limits per tenant and per node, heartbeat, and a lagging subscriber") {
  SqliteEngine engine;
  auto store = engine.open();
  auto hub =
      std::make_shared<events::EventHub>(events::EventHubLimits{2, 3}, api::eventStreamFrame);
  api::EventStreamOptions options;
  options.heartbeat = 50ms;
  options.buffer_bytes = 4096;
  api::EventStreams streams(*store, hub, options);

  std::vector<api::EventStreams::Opened> open;
  for (int i = 0; i < 2; ++i) {
    open.push_back(streams.open("ten_a", streamRequest()));
    REQUIRE(open.back().response.status == 200);
    open.back().then();
  }
  api::EventStreams::Opened refused = streams.open("ten_a", streamRequest());
  CHECK(refused.response.status == 429);
  CHECK(refused.response.body.find("events.stream_max_per_tenant") != std::string::npos);
  open.push_back(streams.open("ten_b", streamRequest()));
  REQUIRE(open.back().response.status == 200);
  open.back().then();
  api::EventStreams::Opened node_full = streams.open("ten_c", streamRequest());
  CHECK(node_full.response.status == 503);
  CHECK(node_full.response.body.find("events.stream_max_per_node") != std::string::npos);

  // Heartbeats arrive on every open stream.
  REQUIRE(http::testing::LoopServer::waitFor([&] {
    return open[0].response.stream->buffered() > 0 &&
           count(open[2].response.stream->take().data, ": keepalive\n\n") > 0;
  }));

  // Nobody takes from tenant A's first stream: past its 4 KiB it is cut off and leaves the hub.
  for (int i = 0; i < 40 && !open[0].response.stream->closed(); ++i) {
    hub->publish("ten_a",
                 {storedEvent("ten_a", "evt_" + std::to_string(1000 + i), std::string(200, 'x'))});
    // The second stream keeps up (as the server does: take, then written).
    auto taken = open[1].response.stream->take();
    open[1].response.stream->written(taken.data.size());
  }
  CHECK(open[0].response.stream->overflowed());
  CHECK_FALSE(open[1].response.stream->closed());
  CHECK(hub->stats().lagged == 1);
  CHECK(hub->stats().subscribers == 2);
  for (auto& opened : open) {
    opened.response.stream->finish();
  }
  CHECK(hub->stats().subscribers == 0);
}
