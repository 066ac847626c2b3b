#pragma once

// Model providers over HTTP (issue 8), through the aggregator's own client
// (notify/http_client.h: OpenSSL, blocking, one deadline, a response cap; never libcurl):
//
//   openai     OpenAI-compatible chat completions: POST <url>/chat/completions with
//              {model, messages: [system, user], temperature: 0}; "Authorization: Bearer <key>"
//              when a key is set. vLLM, llama.cpp's server and Ollama speak it too.
//   anthropic  Anthropic messages: POST <url>/v1/messages with {model, max_tokens, system,
//              messages: [user]}; "x-api-key: <key>", "anthropic-version: 2023-06-01".
//
// The prompt is built and the answer checked by the guardrails (guardrails.h). Keys are never
// logged nor put in an error message. With a CostControl (cost.h), each call is looked up in
// the response cache first, then reserved against the tenant's token budget, settled with the
// reported usage and written to the usage ledger.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "aggregator/ai/cost.h"
#include "aggregator/ai/guardrails.h"
#include "aggregator/ai/provider.h"
#include "aggregator/notify/http_client.h"

namespace faultline::aggregator::ai {

struct ChatProviderConfig {
  std::string name;  // "openai" | "anthropic" (the wire format too)
  std::string url;   // base URL: "http://127.0.0.1:8000/v1", "https://api.anthropic.com"
  std::string model;
  std::string api_key;  // "" sends none (local servers)
  std::chrono::milliseconds timeout{20'000};
  std::size_t max_context_bytes = kDefaultMaxContextBytes;
  std::size_t max_answer_tokens = 2048;
};

/// What the last call used, as the provider reported it.
struct TokenUsage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};

class ChatProvider final : public Provider {
 public:
  /// InvalidArgument for an unknown name, a bad URL or an empty model.
  static Result<std::unique_ptr<ChatProvider>> create(
      ChatProviderConfig config, std::shared_ptr<const notify::HttpClient> client,
      std::shared_ptr<const redact::Redactor> redactor,
      std::shared_ptr<CostControl> cost = nullptr);

  std::string name() const override { return config_.name; }
  /// Unavailable: transport, timeout, an HTTP error status (the status is named);
  /// InvalidArgument: the answer failed a guardrail check (checkAnswer); ResourceExhausted:
  /// the tenant's token budget is spent (no call made).
  Result<Runbook> generate(const AiContext& context) override;
  /// The same for a summary or an explanation (checkNarrative).
  Result<Narrative> narrate(Task task, const AiContext& context) override;

  /// The request body for a prompt (exposed for tests).
  std::string requestBody(const Prompt& prompt) const;
  /// The answer text in a response body; Unavailable when it has none.
  Result<std::string> answerText(std::string_view response_body, TokenUsage* usage) const;

 private:
  ChatProvider(ChatProviderConfig config, notify::HttpUrl url,
               std::shared_ptr<const notify::HttpClient> client,
               std::shared_ptr<const redact::Redactor> redactor, std::shared_ptr<CostControl> cost)
      : config_(std::move(config)),
        url_(std::move(url)),
        client_(std::move(client)),
        redactor_(std::move(redactor)),
        cost_(std::move(cost)) {}

  /// Checks an answer text against the context (and keeps what it parsed).
  using Check = std::function<Status(std::string_view answer_text)>;

  /// One task's answer: the prompt, then the cache, the budget, the call, the settlement and
  /// the ledger; `check` accepts the answer text (a cached one too). `cached`: from the cache.
  Status ask(Task task, const AiContext& context, const Check& check, bool* cached);
  /// The model call itself: `usage` gets what the provider reported, `answer_text` its text.
  Status call(const Prompt& prompt, const Check& check, TokenUsage* usage, bool* responded,
              std::string* answer_text);
  void ledger(Task task, const AiContext& context, const TokenUsage& usage, bool cached,
              std::string outcome);

  ChatProviderConfig config_;
  notify::HttpUrl url_;
  std::shared_ptr<const notify::HttpClient> client_;
  std::shared_ptr<const redact::Redactor> redactor_;
  std::shared_ptr<CostControl> cost_;  // null: no budget, cache nor ledger
};

}  // namespace faultline::aggregator::ai
