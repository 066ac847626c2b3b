// The PostgreSQL engine's knowledge index (migration 12): documents and passages, searched with
// full-text search (tsvector, ts_rank_cd), scoped by tenant_id and row-level security.
#include <cmath>

#include "aggregator/store/postgres/postgres_store.h"

namespace faultline::aggregator::store::postgres {
namespace {

constexpr std::string_view kTenantSetting = "faultline.tenant_id";

constexpr Statement kUpsertKnowledgeDocument{
    "fl_upsert_knowledge_document",
    "INSERT INTO knowledge_documents(tenant_id, kind, id, title, services_json, body, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, kind, id) DO UPDATE "
    "SET title = excluded.title, services_json = excluded.services_json, body = excluded.body, "
    "updated_at = excluded.updated_at"};
constexpr Statement kDropKnowledgePassages{
    "fl_drop_knowledge_passages",
    "DELETE FROM knowledge_passages WHERE tenant_id = $1 AND kind = $2 AND doc_id = $3"};
constexpr Statement kInsertKnowledgePassage{
    "fl_insert_knowledge_passage",
    "INSERT INTO knowledge_passages(tenant_id, kind, doc_id, seq, heading, text, embedding) "
    "VALUES ($1, $2, $3, $4::bigint::integer, $5, $6, $7)"};
constexpr Statement kDeleteKnowledgeDocument{
    "fl_delete_knowledge_document",
    "DELETE FROM knowledge_documents WHERE tenant_id = $1 AND kind = $2 AND id = $3"};
constexpr Statement kFindKnowledgeDocument{
    "fl_find_knowledge_document",
    "SELECT kind, id, title, services_json, body, updated_at FROM knowledge_documents "
    "WHERE tenant_id = $1 AND kind = $2 AND id = $3"};
constexpr Statement kListKnowledgeDocuments{
    "fl_list_knowledge_documents",
    "SELECT kind, id, title, services_json, octet_length(body)::bigint, updated_at "
    "FROM knowledge_documents WHERE tenant_id = $1 AND kind = $2 "
    "ORDER BY updated_at DESC, id COLLATE \"C\" DESC LIMIT $3"};
// The best passages first (headings weigh A, text D; rank normalized by 1 + log(length)), then
// their documents and a headline around the matches for the ones kept.
constexpr Statement kSearchKnowledge{
    "fl_search_knowledge",
    "SELECT h.kind, h.doc_id, d.title, d.services_json, h.seq::bigint, h.heading, "
    "ts_headline('simple', h.text, to_tsquery('simple', $2), "
    "'StartSel=[, StopSel=], MaxWords=30, MinWords=10'), "
    "round((h.score * 1000000)::float8)::bigint FROM ("
    "SELECT p.tenant_id, p.kind, p.doc_id, p.seq, p.heading, p.text, "
    "ts_rank_cd(p.tsv, q, 1) AS score FROM knowledge_passages p, to_tsquery('simple', $2) q "
    "WHERE p.tenant_id = $1 AND p.tsv @@ q "
    "AND ($3::text = '' OR p.kind = ANY(string_to_array($3::text, ','))) "
    "ORDER BY score DESC, p.kind, p.doc_id COLLATE \"C\", p.seq LIMIT $4) h "
    "JOIN knowledge_documents d ON d.tenant_id = h.tenant_id AND d.kind = h.kind "
    "AND d.id = h.doc_id ORDER BY h.score DESC, h.kind, h.doc_id COLLATE \"C\", h.seq"};

// The newest documents' vectors first (the scan is capped; see kKnowledgeVectorScan).
constexpr Statement kListKnowledgeVectors{
    "fl_list_knowledge_vectors",
    "SELECT p.kind, p.doc_id, d.title, d.services_json, p.seq::bigint, p.heading, p.text, "
    "p.embedding FROM knowledge_passages p JOIN knowledge_documents d "
    "ON d.tenant_id = p.tenant_id AND d.kind = p.kind AND d.id = p.doc_id "
    "WHERE p.tenant_id = $1 AND octet_length(p.embedding) > 0 "
    "AND ($2::text = '' OR p.kind = ANY(string_to_array($2::text, ','))) "
    "ORDER BY d.updated_at DESC, p.kind, p.doc_id COLLATE \"C\", p.seq LIMIT $3"};

std::string column(const PgResult& r, int row, int col) {
  return std::string(r.bytes(row, col));
}

}  // namespace

Status PostgresStore::putKnowledgeDocument(const KnowledgeDocument& document) {
  FL_RETURN_IF_ERROR(validateKnowledgeDocument(document.tenant_id, document));
  std::string services = servicesToJson(document.services);
  Status status = inTransaction(false, [&](Connection& connection) -> Status {
    FL_RETURN_IF_ERROR(connection.setLocal(kTenantSetting, document.tenant_id));
    Params upsert;
    upsert.text(document.tenant_id)
        .text(document.kind)
        .text(document.id)
        .text(document.title)
        .text(services)
        .text(document.body)
        .int64(document.updated_at_ns);
    FL_RETURN_IF_ERROR(connection.exec(kUpsertKnowledgeDocument, upsert).status());
    Params drop;
    drop.text(document.tenant_id).text(document.kind).text(document.id);
    FL_RETURN_IF_ERROR(connection.exec(kDropKnowledgePassages, drop).status());
    for (std::size_t i = 0; i < document.passages.size(); ++i) {
      const std::string embedding = encodeEmbedding(document.passages[i].embedding);
      Params insert;
      insert.text(document.tenant_id)
          .text(document.kind)
          .text(document.id)
          .int64(static_cast<std::int64_t>(i))
          .text(document.passages[i].heading)
          .text(document.passages[i].text)
          .bytea(embedding);
      FL_RETURN_IF_ERROR(connection.exec(kInsertKnowledgePassage, insert).status());
    }
    return Status::ok();
  });
  if (status.code() == Errc::AlreadyExists) {
    return notFound("knowledge: no such tenant");
  }
  return status;
}

Status PostgresStore::deleteKnowledgeDocument(std::string_view tenant_id, std::string_view kind,
                                              std::string_view id) {
  Params params;
  params.text(tenant_id).text(kind).text(id);
  FL_ASSIGN_OR_RETURN(std::int64_t deleted,
                      scopedWrite(kTenantSetting, tenant_id, kDeleteKnowledgeDocument, params));
  return deleted == 0 ? notFound("no such document in this tenant") : Status::ok();
}

Result<KnowledgeDocument> PostgresStore::findKnowledgeDocument(std::string_view tenant_id,
                                                               std::string_view kind,
                                                               std::string_view id) {
  Params params;
  params.text(tenant_id).text(kind).text(id);
  FL_ASSIGN_OR_RETURN(PgResult r,
                      scopedRead(kTenantSetting, tenant_id, kFindKnowledgeDocument, params));
  if (r.rows() == 0) {
    return notFound("no such document in this tenant");
  }
  KnowledgeDocument document;
  document.tenant_id = std::string(tenant_id);
  document.kind = column(r, 0, 0);
  document.id = column(r, 0, 1);
  document.title = column(r, 0, 2);
  document.services = servicesFromJson(r.bytes(0, 3));
  document.body = column(r, 0, 4);
  document.updated_at_ns = r.int64(0, 5);
  return document;
}

Result<std::vector<KnowledgeSummary>> PostgresStore::listKnowledgeDocuments(
    std::string_view tenant_id, std::string_view kind, std::size_t limit) {
  Params params;
  params.text(tenant_id).text(kind).int64(static_cast<std::int64_t>(limit));
  return readRows<KnowledgeSummary>(
      kTenantSetting, tenant_id, kListKnowledgeDocuments, params, [](const PgResult& r, int row) {
        KnowledgeSummary summary;
        summary.kind = column(r, row, 0);
        summary.id = column(r, row, 1);
        summary.title = column(r, row, 2);
        summary.services = servicesFromJson(r.bytes(row, 3));
        summary.body_bytes = static_cast<std::size_t>(r.int64(row, 4));
        summary.updated_at_ns = r.int64(row, 5);
        return summary;
      });
}

Result<std::vector<KnowledgeHit>> PostgresStore::searchKnowledge(std::string_view tenant_id,
                                                                 const KnowledgeQuery& query) {
  std::vector<std::string> terms = searchTerms(query.terms);
  std::optional<std::string> kinds = kindsFilter(query.kinds);
  if (terms.empty() || !kinds) {
    return std::vector<KnowledgeHit>{};
  }
  // Terms are [a-z0-9_] (searchTerms): joined with | they are a plain tsquery.
  std::string tsquery;
  for (const std::string& term : terms) {
    tsquery += (tsquery.empty() ? "" : " | ") + term;
  }
  Params params;
  params.text(tenant_id).text(tsquery).text(*kinds).int64(
      static_cast<std::int64_t>(kKnowledgePassageScan));
  FL_ASSIGN_OR_RETURN(
      std::vector<KnowledgePassageRow> rows,
      readRows<KnowledgePassageRow>(
          kTenantSetting, tenant_id, kSearchKnowledge, params, [](const PgResult& r, int row) {
            KnowledgePassageRow out;
            out.kind = column(r, row, 0);
            out.id = column(r, row, 1);
            out.title = column(r, row, 2);
            out.services_json = column(r, row, 3);
            out.passage.seq = static_cast<int>(r.int64(row, 4));
            out.passage.heading = column(r, row, 5);
            out.passage.snippet = column(r, row, 6);
            out.passage.score = static_cast<double>(r.int64(row, 7)) / 1e6;
            return out;
          }));
  return groupKnowledgeHits(std::move(rows), query);
}

Result<std::vector<KnowledgeVectorRow>> PostgresStore::listKnowledgeVectors(
    std::string_view tenant_id, const std::vector<std::string>& kinds, std::size_t limit) {
  std::optional<std::string> filter = kindsFilter(kinds);
  if (!filter || limit == 0) {
    return std::vector<KnowledgeVectorRow>{};
  }
  Params params;
  params.text(tenant_id).text(*filter).int64(static_cast<std::int64_t>(limit));
  FL_ASSIGN_OR_RETURN(std::vector<KnowledgeVectorRow> rows,
                      readRows<KnowledgeVectorRow>(kTenantSetting, tenant_id, kListKnowledgeVectors,
                                                   params, [](const PgResult& r, int row) {
                                                     KnowledgeVectorRow out;
                                                     out.kind = column(r, row, 0);
                                                     out.id = column(r, row, 1);
                                                     out.title = column(r, row, 2);
                                                     out.services_json = column(r, row, 3);
                                                     out.seq = static_cast<int>(r.int64(row, 4));
                                                     out.heading = column(r, row, 5);
                                                     out.text = column(r, row, 6);
                                                     out.embedding =
                                                         decodeEmbedding(r.bytes(row, 7));
                                                     return out;
                                                   }));
  std::erase_if(rows, [](const KnowledgeVectorRow& row) { return row.embedding.empty(); });
  return rows;
}

}  // namespace faultline::aggregator::store::postgres
