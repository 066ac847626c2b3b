#pragma once

// Text embeddings from a provider (issue 8, retrieval: "optional embeddings from a provider,
// combined with BM25 when configured"). Off by default (ai.embeddings.provider = ""): the
// knowledge index is then BM25 only.
//
//   openai   OpenAI-compatible embeddings: POST <ai.openai.url>/embeddings with
//            {"model": ai.embeddings.model, "input": [texts...]}; the answer's data[i].embedding
//            is the vector of input i (data[i].index when given says which input it is).
//            "Authorization: Bearer <ai.openai.api_key>" when a key is set. vLLM, llama.cpp's
//            server and Ollama speak it too.
//
// Calls go through the aggregator's own HTTP client (notify/http_client.h). The key is never
// logged nor put in an error message.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/notify/http_client.h"
#include "shared/util/status.h"

namespace faultline::aggregator::knowledge {

/// Texts sent in one request at most (a document's passages go in several).
inline constexpr std::size_t kMaxEmbeddingBatch = 32;
/// Bytes of one text sent at most (a passage is at most kMaxPassageBytes already).
inline constexpr std::size_t kMaxEmbeddingInputBytes = 8 * 1024;
/// Bytes of an embeddings answer at most.
inline constexpr std::size_t kMaxEmbeddingResponseBytes = 8 * 1024 * 1024;

/// Turns texts into vectors. Thread-safe: called from API workers and the incident engine.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;
  /// One vector per text, in order, all of one dimension (1..kMaxEmbeddingDimensions).
  /// Unavailable: the provider could not be reached or answered an error or a malformed or
  /// oversized answer. At most kMaxEmbeddingBatch texts.
  virtual Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) = 0;
};

struct OpenAiEmbedderConfig {
  std::string url;  // base URL: "http://127.0.0.1:8000/v1" (ai.openai.url)
  std::string model;
  std::string api_key;  // "" sends none (local servers)
  std::chrono::milliseconds timeout{20'000};
};

class OpenAiEmbedder final : public Embedder {
 public:
  /// InvalidArgument for a bad URL, an empty model or no client.
  static Result<std::unique_ptr<OpenAiEmbedder>> create(
      OpenAiEmbedderConfig config, std::shared_ptr<const notify::HttpClient> client);

  std::string name() const override { return "openai"; }
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) override;

  /// The request body for these texts (exposed for tests).
  std::string requestBody(const std::vector<std::string>& texts) const;

 private:
  OpenAiEmbedder(OpenAiEmbedderConfig config, notify::HttpUrl url,
                 std::shared_ptr<const notify::HttpClient> client)
      : config_(std::move(config)), url_(std::move(url)), client_(std::move(client)) {}

  OpenAiEmbedderConfig config_;
  notify::HttpUrl url_;
  std::shared_ptr<const notify::HttpClient> client_;
};

/// The vectors in an OpenAI-compatible embeddings answer for `count` inputs. Unavailable when
/// it is not JSON, has not exactly `count` vectors, a vector is empty, past
/// kMaxEmbeddingDimensions, holds a non-number or differs in dimension from the others.
Result<std::vector<std::vector<float>>> parseEmbeddingsAnswer(std::string_view body,
                                                              std::size_t count);

}  // namespace faultline::aggregator::knowledge
