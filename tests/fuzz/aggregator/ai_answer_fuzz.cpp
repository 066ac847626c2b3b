// Untrusted input of the AI layer: what a model provider or an embeddings server answers. The
// first byte chooses the parser: a chat response body (OpenAI or Anthropic wire format) through
// ChatProvider::answerText, an answer text checked as a runbook (checkAnswer), as a summary or an
// explanation (checkNarrative), or an embeddings answer (parseEmbeddingsAnswer).
// Invariants: no crash; refusals are Unavailable (a body) or InvalidArgument (an answer text);
// an accepted runbook or narrative cites only the context's evidence ids, within the shape's
// limits; accepted embeddings are `count` vectors of one dimension in 1..kMaxEmbeddingDimensions.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/ai/chat_provider.h"
#include "aggregator/ai/context.h"
#include "aggregator/ai/guardrails.h"
#include "aggregator/ai/narrative.h"
#include "aggregator/ai/runbook.h"
#include "aggregator/knowledge/embedder.h"
#include "aggregator/notify/http_client.h"
#include "aggregator/store/knowledge_records.h"
#include "shared/redact/redactor.h"

namespace {

using namespace faultline;
using namespace faultline::aggregator;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_ai_answer: %s: %s\n", what, detail.c_str());
  __builtin_trap();
}

// Nothing listens at this URL, and nothing here calls it: answerText only reads a body.
std::unique_ptr<ai::ChatProvider> makeProvider(const char* name) {
  auto client = notify::HttpClient::create({});
  auto redactor = redact::Redactor::create({});
  if (!client || !redactor) {
    fail("setup", "client or redactor");
  }
  ai::ChatProviderConfig config;
  config.name = name;
  config.url = "http://127.0.0.1:1/v1";
  config.model = "m";
  auto provider = ai::ChatProvider::create(config, std::move(*client), std::move(*redactor));
  if (!provider) {
    fail("setup", provider.status().toString());
  }
  return std::move(*provider);
}

const ai::AiContext& context() {
  static const ai::AiContext kContext = [] {
    ai::AiContext c;
    c.tenant_id = "tnt_fuzz";
    c.incident_id = "inc_1";
    c.title = "checkout latency";
    c.evidence_ids = {"inc_1", "evt_1", "evt_2", "runbook:rb_1#0", "incident:inc_0#1"};
    return c;
  }();
  return kContext;
}

void checkCites(const std::vector<std::string>& evidence, std::size_t max, const char* where) {
  if (evidence.empty() || evidence.size() > max) {
    fail(where, "evidence count " + std::to_string(evidence.size()));
  }
  for (const std::string& id : evidence) {
    if (context().evidence_ids.count(id) == 0) {
      fail(where, "cites an id not in the context: " + id);
    }
  }
}

void checkClaims(const std::vector<ai::Claim>& claims, const char* where) {
  if (claims.size() > ai::kMaxClaims) {
    fail(where, "too many claims");
  }
  for (const ai::Claim& claim : claims) {
    if (claim.text.empty()) {
      fail(where, "empty claim");
    }
    checkCites(claim.evidence, ai::kMaxEvidencePerClaim, where);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::unique_ptr<ai::ChatProvider> openai = makeProvider("openai");
  static const std::unique_ptr<ai::ChatProvider> anthropic = makeProvider("anthropic");
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
    case 1: {
      ai::TokenUsage usage;
      auto text = (data[0] % 6 == 0 ? openai : anthropic)->answerText(input, &usage);
      if (!text && text.code() != Errc::Unavailable) {
        fail("body refusal", text.status().toString());
      }
      if (usage.prompt_tokens < 0 || usage.completion_tokens < 0) {
        fail("usage", "negative token counts");
      }
      break;
    }
    case 2: {
      auto runbook = ai::checkAnswer(input, context());
      if (!runbook) {
        if (runbook.code() != Errc::InvalidArgument) {
          fail("runbook refusal", runbook.status().toString());
        }
        return 0;
      }
      if (runbook->steps.empty() || runbook->steps.size() > ai::kMaxSteps) {
        fail("runbook", "step count " + std::to_string(runbook->steps.size()));
      }
      for (const ai::RunbookStep& step : runbook->steps) {
        if (step.action.empty()) {
          fail("runbook", "a step without an action");
        }
        if (!step.evidence.empty()) {
          checkCites(step.evidence, ai::kMaxEvidencePerStep, "runbook step");
        }
      }
      if (!(runbook->confidence >= 0.0 && runbook->confidence <= 1.0)) {
        fail("runbook", "confidence out of [0, 1]");
      }
      break;
    }
    case 3:
    case 4: {
      const ai::Task task = data[0] % 6 == 3 ? ai::Task::Summary : ai::Task::Explanation;
      auto narrative = ai::checkNarrative(task, input, context());
      if (!narrative) {
        if (narrative.code() != Errc::InvalidArgument) {
          fail("narrative refusal", narrative.status().toString());
        }
        return 0;
      }
      if (narrative->claims.empty() || narrative->text.size() > ai::kMaxNarrativeTextBytes) {
        fail("narrative", "no claim, or text past the limit");
      }
      checkClaims(narrative->claims, "narrative claim");
      checkClaims(narrative->checks, "narrative check");
      if (!(narrative->confidence >= 0.0 && narrative->confidence <= 1.0)) {
        fail("narrative", "confidence out of [0, 1]");
      }
      break;
    }
    default: {
      const std::size_t count = 1 + (data[0] / 6) % 4;
      auto vectors = knowledge::parseEmbeddingsAnswer(input, count);
      if (!vectors) {
        if (vectors.code() != Errc::Unavailable) {
          fail("embeddings refusal", vectors.status().toString());
        }
        return 0;
      }
      if (vectors->size() != count) {
        fail("embeddings", "vector count " + std::to_string(vectors->size()));
      }
      const std::size_t dimensions = vectors->front().size();
      if (dimensions == 0 || dimensions > store::kMaxEmbeddingDimensions) {
        fail("embeddings", "dimension " + std::to_string(dimensions));
      }
      for (const std::vector<float>& vector : *vectors) {
        if (vector.size() != dimensions) {
          fail("embeddings", "vectors of different dimensions");
        }
      }
      break;
    }
  }
  return 0;
}
