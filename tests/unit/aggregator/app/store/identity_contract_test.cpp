// The Store contract for identity (migration 4): users, memberships, sessions, API keys,
// invitations and signing keys, run against every engine (store_engines.h). Every tenant-scoped
// call is also tried with another tenant's ids, which must look exactly like ids that do not exist.
#include <doctest/doctest.h>

#include <thread>

#include "shared/util/crypto.h"
#include "shared/util/time.h"
#include "tests/unit/aggregator/app/store/store_engines.h"

using namespace faultline;
using namespace faultline::aggregator;
using namespace faultline::aggregator::testing;

namespace {
constexpr std::int64_t kHourNs = 3'600'000'000'000;

store::Tenant tenantNamed(store::Store& store, const std::string& name) {
  auto tenant = store.createTenant(name, nowUnixNanos());
  REQUIRE_MESSAGE(tenant.isOk(), tenant.status().toString());
  return *tenant;
}

store::User userWith(store::Store& store, const std::string& email) {
  auto user = store.createUser(email, "$argon2id$fake-hash-for-store-tests", nowUnixNanos());
  REQUIRE_MESSAGE(user.isOk(), user.status().toString());
  return *user;
}

store::Session sessionFor(const store::Tenant& tenant, const store::User& user,
                          std::int64_t ttl_ns = kHourNs) {
  store::Session session;
  session.token_hash = crypto::hashSecret(crypto::randomToken("fls_"));
  session.tenant_id = tenant.id;
  session.user_id = user.id;
  session.csrf_hash = crypto::hashSecret(crypto::randomToken(""));
  session.created_at_ns = nowUnixNanos();
  session.expires_at_ns = session.created_at_ns + ttl_ns;
  return session;
}

store::ApiKey apiKeyFor(const store::Tenant& tenant, const std::string& role) {
  store::ApiKey key;
  key.id = "key_" + crypto::randomHex(12);
  key.tenant_id = tenant.id;
  key.name = "ci";
  key.role = role;
  key.key_hash = crypto::hashSecret(crypto::randomToken("flk_"));
  key.created_by = "admin-cli";
  key.created_at_ns = nowUnixNanos();
  return key;
}

store::Invitation invitationFor(const store::Tenant& tenant, const std::string& email,
                                const std::string& role, std::int64_t ttl_ns = kHourNs) {
  store::Invitation invitation;
  invitation.id = "inv_" + crypto::randomHex(12);
  invitation.tenant_id = tenant.id;
  invitation.email = email;
  invitation.role = role;
  invitation.token_hash = crypto::hashSecret(crypto::randomToken("fli_"));
  invitation.invited_by = "user:usr_x";
  invitation.created_at_ns = nowUnixNanos();
  invitation.expires_at_ns = invitation.created_at_ns + ttl_ns;
  return invitation;
}
}  // namespace

TEST_CASE_TEMPLATE("identity users: e-mail unique case-insensitively, found in any case", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::User user = userWith(*store, "Alice@Example.COM");
  CHECK(user.email == "alice@example.com");
  CHECK(user.id.rfind("usr_", 0) == 0);
  auto again = store->createUser("ALICE@example.com", "h", nowUnixNanos());
  CHECK(again.code() == Errc::AlreadyExists);
  auto found = store->findUserByEmail("aLiCe@eXample.com");
  REQUIRE(found.isOk());
  CHECK(found->id == user.id);
  CHECK(found->password_hash == user.password_hash);
  CHECK(found->disabled_at_ns == 0);
  CHECK(store->findUserByEmail("bob@example.com").code() == Errc::NotFound);
  // SQL metacharacters are data, never SQL.
  CHECK(store->findUserByEmail("' OR '1'='1").code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("identity memberships: several tenants per user, roles, removal", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::User alice = userWith(*store, "alice@example.com");
  store::User bob = userWith(*store, "bob@example.com");
  const std::int64_t now = nowUnixNanos();
  REQUIRE(store->addMembership(a.id, alice.id, "owner", now).isOk());
  REQUIRE(store->addMembership(b.id, alice.id, "viewer", now).isOk());
  REQUIRE(store->addMembership(b.id, bob.id, "admin", now).isOk());
  CHECK(store->addMembership(a.id, alice.id, "viewer", now).code() == Errc::AlreadyExists);
  CHECK(store->addMembership("tnt_nope", alice.id, "viewer", now).code() == Errc::NotFound);
  CHECK(store->addMembership(a.id, "usr_nope", "viewer", now).code() == Errc::NotFound);

  auto mine = store->listUserMemberships(alice.id);
  REQUIRE(mine.isOk());
  REQUIRE(mine->size() == 2);
  CHECK((*mine)[0].tenant_name == "tenant-a");
  CHECK((*mine)[0].role == "owner");
  CHECK((*mine)[1].tenant_name == "tenant-b");
  CHECK((*mine)[1].role == "viewer");
  CHECK((*mine)[1].email == "alice@example.com");

  auto members_b = store->listMembers(b.id);
  REQUIRE(members_b.isOk());
  REQUIRE(members_b->size() == 2);
  CHECK((*members_b)[0].email == "alice@example.com");
  CHECK((*members_b)[1].email == "bob@example.com");
  auto members_a = store->listMembers(a.id);
  REQUIRE(members_a.isOk());
  REQUIRE(members_a->size() == 1);  // bob is in B only

  // Bob is B's member: through tenant A he does not exist.
  CHECK(store->findMember(a.id, bob.id).code() == Errc::NotFound);
  CHECK(store->setMemberRole(a.id, bob.id, "owner").code() == Errc::NotFound);
  CHECK(store->removeMember(a.id, bob.id, now).code() == Errc::NotFound);
  CHECK(store->findMember(b.id, bob.id)->role == "admin");

  REQUIRE(store->setMemberRole(b.id, alice.id, "responder").isOk());
  CHECK(store->findMember(b.id, alice.id)->role == "responder");
  CHECK(store->findMember(a.id, alice.id)->role == "owner");  // the other tenant unchanged

  store::Session session = sessionFor(b, alice);
  REQUIRE(store->createSession(session).isOk());
  REQUIRE(store->removeMember(b.id, alice.id, nowUnixNanos()).isOk());
  CHECK(store->findMember(b.id, alice.id).code() == Errc::NotFound);
  // The membership is gone, so is the session (and it was revoked with it).
  CHECK(store->findSession(session.token_hash).code() == Errc::NotFound);
  CHECK(engine.queryInt("SELECT count(*) FROM auth_sessions WHERE tenant_id = $1 AND "
                        "revoked_at > 0",
                        b.id) == 1);
  CHECK(store->listUserMemberships(alice.id)->size() == 1);
}

TEST_CASE_TEMPLATE("identity memberships: the last owner stays, even against concurrent changes",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::User alice = userWith(*store, "alice@example.com");
  store::User bob = userWith(*store, "bob@example.com");
  const std::int64_t now = nowUnixNanos();
  REQUIRE(store->addMembership(a.id, alice.id, "owner", now).isOk());
  REQUIRE(store->addMembership(a.id, bob.id, "admin", now).isOk());
  CHECK(store->setMemberRole(a.id, alice.id, "admin").code() == Errc::FailedPrecondition);
  CHECK(store->removeMember(a.id, alice.id, now).code() == Errc::FailedPrecondition);
  CHECK(store->setMemberRole(a.id, alice.id, "owner").isOk());  // staying owner is fine
  CHECK(store->findMember(a.id, alice.id)->role == "owner");

  // Two owners, each demoted (or removed) by a different request at the same moment: one
  // change wins, the other is refused, and the tenant never ends up without an owner.
  for (int round = 0; round < 20; ++round) {
    REQUIRE(store->setMemberRole(a.id, bob.id, "owner").isOk());
    REQUIRE(store->setMemberRole(a.id, alice.id, "owner").isOk());
    Status first;
    Status second;
    std::thread demote_alice([&] { first = store->setMemberRole(a.id, alice.id, "admin"); });
    std::thread drop_bob([&] {
      second = round % 2 == 0 ? store->setMemberRole(a.id, bob.id, "viewer")
                              : store->removeMember(a.id, bob.id, nowUnixNanos());
    });
    demote_alice.join();
    drop_bob.join();
    CHECK(first.isOk() != second.isOk());
    CHECK((first.code() == Errc::FailedPrecondition || second.code() == Errc::FailedPrecondition));
    auto members = store->listMembers(a.id);
    REQUIRE(members.isOk());
    int owners = 0;
    for (const store::Membership& member : *members) {
      owners += member.role == "owner" ? 1 : 0;
    }
    REQUIRE(owners == 1);
    if (store->findMember(a.id, bob.id).code() == Errc::NotFound) {
      REQUIRE(store->addMembership(a.id, bob.id, "admin", nowUnixNanos()).isOk());
    }
  }
}

TEST_CASE_TEMPLATE("identity sessions: found by hash with the current role; revoke per tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::User alice = userWith(*store, "alice@example.com");
  REQUIRE(store->addMembership(a.id, alice.id, "admin", nowUnixNanos()).isOk());
  store::Session session = sessionFor(a, alice);
  REQUIRE(store->createSession(session).isOk());
  auto found = store->findSession(session.token_hash);
  REQUIRE_MESSAGE(found.isOk(), found.status().toString());
  CHECK(found->tenant_id == a.id);
  CHECK(found->user_id == alice.id);
  CHECK(found->csrf_hash == session.csrf_hash);
  CHECK(found->expires_at_ns == session.expires_at_ns);
  CHECK(found->revoked_at_ns == 0);
  CHECK(found->role == "admin");
  REQUIRE(store->setMemberRole(a.id, alice.id, "viewer").isOk());
  CHECK(store->findSession(session.token_hash)->role == "viewer");  // role changes apply at once

  CHECK(store->findSession(crypto::hashSecret("fls_unknown")).code() == Errc::NotFound);
  // Tenant B cannot revoke A's session: it does not exist there.
  CHECK(store->revokeSession(b.id, session.token_hash, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->findSession(session.token_hash)->revoked_at_ns == 0);
  const std::int64_t revoked_at = nowUnixNanos();
  REQUIRE(store->revokeSession(a.id, session.token_hash, revoked_at).isOk());
  REQUIRE(store->revokeSession(a.id, session.token_hash, revoked_at + 5).isOk());
  CHECK(store->findSession(session.token_hash)->revoked_at_ns == revoked_at);  // first time kept
  // A session for a tenant that does not exist is refused.
  store::Session orphan = sessionFor(a, alice);
  orphan.tenant_id = "tnt_nope";
  CHECK(store->createSession(orphan).code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("identity purge: dead sessions and invitations of one tenant go", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::User alice = userWith(*store, "alice@example.com");
  const std::int64_t now = nowUnixNanos();
  REQUIRE(store->addMembership(a.id, alice.id, "owner", now).isOk());
  REQUIRE(store->addMembership(b.id, alice.id, "owner", now).isOk());
  store::Session live = sessionFor(a, alice);
  store::Session expired = sessionFor(a, alice, -kHourNs);
  store::Session revoked = sessionFor(a, alice);
  store::Session other_tenant_expired = sessionFor(b, alice, -kHourNs);
  for (const store::Session* session : {&live, &expired, &revoked, &other_tenant_expired}) {
    REQUIRE(store->createSession(*session).isOk());
  }
  REQUIRE(store->revokeSession(a.id, revoked.token_hash, now - 1).isOk());
  store::Invitation pending = invitationFor(a, "p@example.com", "viewer");
  store::Invitation lapsed = invitationFor(a, "l@example.com", "viewer", -kHourNs);
  REQUIRE(store->createInvitation(pending).isOk());
  REQUIRE(store->createInvitation(lapsed).isOk());

  auto purged = store->purgeStaleCredentials(a.id, now);
  REQUIRE_MESSAGE(purged.isOk(), purged.status().toString());
  CHECK(*purged == 3);  // expired + revoked session, lapsed invitation
  CHECK(store->findSession(live.token_hash).isOk());
  CHECK(store->findSession(expired.token_hash).code() == Errc::NotFound);
  CHECK(store->findSession(revoked.token_hash).code() == Errc::NotFound);
  CHECK(store->findInvitation(pending.token_hash).isOk());
  CHECK(store->findInvitation(lapsed.token_hash).code() == Errc::NotFound);
  // Tenant B's dead session is B's business: untouched by A's purge.
  CHECK(engine.queryInt("SELECT count(*) FROM auth_sessions WHERE tenant_id = $1", b.id) == 1);
  CHECK(*store->purgeStaleCredentials(a.id, now) == 0);
}

TEST_CASE_TEMPLATE("identity API keys: by hash, listed per tenant, revoke and touch per tenant",
                   TestType, SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::ApiKey key_a = apiKeyFor(a, "responder");
  key_a.expires_at_ns = nowUnixNanos() + kHourNs;
  store::ApiKey key_b = apiKeyFor(b, "viewer");
  REQUIRE(store->createApiKey(key_a).isOk());
  REQUIRE(store->createApiKey(key_b).isOk());

  auto found = store->findApiKeyByHash(key_a.key_hash);
  REQUIRE_MESSAGE(found.isOk(), found.status().toString());
  CHECK(found->id == key_a.id);
  CHECK(found->tenant_id == a.id);
  CHECK(found->role == "responder");
  CHECK(found->name == "ci");
  CHECK(found->created_by == "admin-cli");
  CHECK(found->expires_at_ns == key_a.expires_at_ns);
  CHECK(found->revoked_at_ns == 0);
  CHECK(store->findApiKeyByHash(crypto::hashSecret("flk_nope")).code() == Errc::NotFound);

  auto listed = store->listApiKeys(a.id);
  REQUIRE(listed.isOk());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].id == key_a.id);

  // Another tenant's key id behaves like an unknown one.
  CHECK(store->revokeApiKey(a.id, key_b.id, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->touchApiKey(a.id, key_b.id, nowUnixNanos()).code() == Errc::NotFound);
  CHECK(store->findApiKeyByHash(key_b.key_hash)->revoked_at_ns == 0);

  const std::int64_t used = nowUnixNanos();
  REQUIRE(store->touchApiKey(a.id, key_a.id, used).isOk());
  REQUIRE(store->touchApiKey(a.id, key_a.id, used - 10).isOk());  // never goes back
  CHECK(store->findApiKeyByHash(key_a.key_hash)->last_used_ns == used);
  REQUIRE(store->revokeApiKey(a.id, key_a.id, used + 1).isOk());
  CHECK(store->findApiKeyByHash(key_a.key_hash)->revoked_at_ns == used + 1);

  store::ApiKey orphan = apiKeyFor(a, "viewer");
  orphan.tenant_id = "tnt_nope";
  CHECK(store->createApiKey(orphan).code() == Errc::NotFound);
}

TEST_CASE_TEMPLATE("identity invitations: accepted once, creates or reuses the user", TestType,
                   SqliteEngine, PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  store::Tenant a = tenantNamed(*store, "tenant-a");
  store::Tenant b = tenantNamed(*store, "tenant-b");
  store::Invitation invite = invitationFor(a, "Carol@Example.com", "responder");
  REQUIRE(store->createInvitation(invite).isOk());
  auto found = store->findInvitation(invite.token_hash);
  REQUIRE(found.isOk());
  CHECK(found->email == "carol@example.com");
  CHECK(found->tenant_id == a.id);

  auto accepted = store->acceptInvitation(invite.token_hash, "usr_carol", "hash-c", nowUnixNanos());
  REQUIRE_MESSAGE(accepted.isOk(), accepted.status().toString());
  CHECK(accepted->user_id == "usr_carol");
  CHECK(accepted->role == "responder");
  CHECK(store->findMember(a.id, "usr_carol")->role == "responder");
  CHECK(store->findUserByEmail("carol@example.com")->password_hash == "hash-c");
  auto twice = store->acceptInvitation(invite.token_hash, "usr_other", "h", nowUnixNanos());
  CHECK(twice.code() == Errc::AlreadyExists);

  // An existing user joins a second tenant; the new id and password are not used.
  store::Invitation to_b = invitationFor(b, "carol@example.com", "viewer");
  REQUIRE(store->createInvitation(to_b).isOk());
  auto joined = store->acceptInvitation(to_b.token_hash, "usr_unused", "other", nowUnixNanos());
  REQUIRE(joined.isOk());
  CHECK(joined->user_id == "usr_carol");
  CHECK(store->findUserByEmail("carol@example.com")->password_hash == "hash-c");
  CHECK(store->listUserMemberships("usr_carol")->size() == 2);

  store::Invitation expired = invitationFor(a, "dave@example.com", "viewer", -1);
  REQUIRE(store->createInvitation(expired).isOk());
  CHECK(store->acceptInvitation(expired.token_hash, "usr_dave", "h", nowUnixNanos()).code() ==
        Errc::FailedPrecondition);
  CHECK(store->findUserByEmail("dave@example.com").code() == Errc::NotFound);  // nothing written
  CHECK(store->acceptInvitation(crypto::hashSecret("nope"), "usr_x", "h", nowUnixNanos()).code() ==
        Errc::NotFound);
}

TEST_CASE_TEMPLATE("identity signing keys: newest first, filtered by age", TestType, SqliteEngine,
                   PostgresEngine) {
  STORE_ENGINE_OR_SKIP(engine);
  auto store = engine.open();
  REQUIRE(store->addSigningKey({"jwk_old", crypto::randomHex(32), 100}).isOk());
  REQUIRE(store->addSigningKey({"jwk_new", crypto::randomHex(32), 200}).isOk());
  auto all = store->listSigningKeys(0);
  REQUIRE(all.isOk());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].kid == "jwk_new");
  CHECK((*all)[0].secret_hex.size() == 64);
  auto recent = store->listSigningKeys(150);
  REQUIRE(recent.isOk());
  REQUIRE(recent->size() == 1);
  CHECK((*recent)[0].kid == "jwk_new");
  CHECK(store->addSigningKey({"jwk_new", "00", 300}).code() == Errc::AlreadyExists);
}
