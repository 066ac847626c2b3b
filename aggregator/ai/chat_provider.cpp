#include "aggregator/ai/chat_provider.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "shared/util/log.h"

namespace faultline::aggregator::ai {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxResponseBytes = 1024 * 1024;

}  // namespace

Result<std::unique_ptr<ChatProvider>> ChatProvider::create(
    ChatProviderConfig config, std::shared_ptr<const notify::HttpClient> client,
    std::shared_ptr<const redact::Redactor> redactor, std::shared_ptr<CostControl> cost) {
  if (config.name != "openai" && config.name != "anthropic") {
    return invalidArgument("ai provider " + config.name + ": openai or anthropic");
  }
  if (config.model.empty()) {
    return invalidArgument("ai." + config.name + ".model: required");
  }
  if (client == nullptr || redactor == nullptr) {
    return invalidArgument("ai provider " + config.name + ": no HTTP client or redactor");
  }
  std::string base = config.url;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  base += config.name == "openai" ? "/chat/completions" : "/v1/messages";
  auto url = notify::parseHttpUrl(base);
  if (!url) {
    return invalidArgument("ai." + config.name + ".url: " + url.status().message());
  }
  return std::unique_ptr<ChatProvider>(new ChatProvider(std::move(config), *url, std::move(client),
                                                        std::move(redactor), std::move(cost)));
}

std::string ChatProvider::requestBody(const Prompt& prompt) const {
  json body;
  if (config_.name == "openai") {
    body = {{"model", config_.model},
            {"temperature", 0},
            {"max_tokens", config_.max_answer_tokens},
            {"messages",
             {{{"role", "system"}, {"content", prompt.system}},
              {{"role", "user"}, {"content", prompt.user}}}}};
  } else {
    body = {{"model", config_.model},
            {"max_tokens", config_.max_answer_tokens},
            {"temperature", 0},
            {"system", prompt.system},
            {"messages", {{{"role", "user"}, {"content", prompt.user}}}}};
  }
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::string> ChatProvider::answerText(std::string_view response_body,
                                             TokenUsage* usage) const {
  json body = json::parse(response_body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return unavailable(config_.name + ": the response is not a JSON object");
  }
  if (usage != nullptr && body.contains("usage") && body["usage"].is_object()) {
    const json& u = body["usage"];
    const char* in = config_.name == "openai" ? "prompt_tokens" : "input_tokens";
    const char* out = config_.name == "openai" ? "completion_tokens" : "output_tokens";
    if (u.contains(in) && u[in].is_number_integer()) {
      usage->prompt_tokens = u[in].get<std::int64_t>();
    }
    if (u.contains(out) && u[out].is_number_integer()) {
      usage->completion_tokens = u[out].get<std::int64_t>();
    }
  }
  if (config_.name == "openai") {
    if (body.contains("choices") && body["choices"].is_array() && !body["choices"].empty() &&
        body["choices"][0].is_object() && body["choices"][0].contains("message") &&
        body["choices"][0]["message"].is_object() &&
        body["choices"][0]["message"].contains("content") &&
        body["choices"][0]["message"]["content"].is_string()) {
      return body["choices"][0]["message"]["content"].get<std::string>();
    }
  } else if (body.contains("content") && body["content"].is_array()) {
    std::string text;
    for (const json& part : body["content"]) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        text += part["text"].get<std::string>();
      }
    }
    if (!text.empty()) {
      return text;
    }
  }
  return unavailable(config_.name + ": the response holds no answer text");
}

Status ChatProvider::call(const Prompt& prompt, const Check& check, TokenUsage* usage,
                          bool* responded, std::string* answer_text) {
  notify::HttpRequest request;
  request.method = "POST";
  request.headers.emplace_back("Content-Type", "application/json");
  if (config_.name == "openai") {
    if (!config_.api_key.empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + config_.api_key);
    }
  } else {
    if (!config_.api_key.empty()) {
      request.headers.emplace_back("x-api-key", config_.api_key);
    }
    request.headers.emplace_back("anthropic-version", "2023-06-01");
  }
  request.body = requestBody(prompt);
  request.timeout = config_.timeout;
  request.max_response_bytes = kMaxResponseBytes;
  auto response = client_->send(url_, request, config_.name);
  if (!response) {
    return unavailable(response.status().message());
  }
  *responded = true;
  if (response->status < 200 || response->status >= 300) {
    (void)answerText(response->body, usage);  // an error body may still report usage
    return unavailable(config_.name + ": HTTP " + std::to_string(response->status));
  }
  FL_ASSIGN_OR_RETURN(*answer_text, answerText(response->body, usage));
  return check(*answer_text);
}

void ChatProvider::ledger(Task task, const AiContext& context, const TokenUsage& usage, bool cached,
                          std::string outcome) {
  store::AiUsageRecord record;
  record.tenant_id = context.tenant_id;
  record.provider = config_.name;
  record.model = config_.model;
  record.task = taskName(task);
  record.prompt_tokens = usage.prompt_tokens;
  record.completion_tokens = usage.completion_tokens;
  record.cached = cached;
  record.outcome = std::move(outcome);
  Status written = cost_->record(std::move(record));
  if (!written.isOk()) {
    log::warn("ai", config_.name + ": usage ledger: " + written.toString());
  }
}

Result<Runbook> ChatProvider::generate(const AiContext& context) {
  std::optional<Runbook> runbook;
  bool cached = false;
  FL_RETURN_IF_ERROR(ask(
      Task::Runbook, context,
      [&](std::string_view text) -> Status {
        auto checked = checkAnswer(text, context);
        if (!checked) {
          return checked.status();
        }
        runbook = std::move(*checked);
        return Status();
      },
      &cached));
  runbook->provider = config_.name;
  runbook->cached = cached;
  return std::move(*runbook);
}

Result<Narrative> ChatProvider::narrate(Task task, const AiContext& context) {
  if (task == Task::Runbook) {
    return invalidArgument(config_.name + ": a runbook is written by generate");
  }
  std::optional<Narrative> narrative;
  bool cached = false;
  FL_RETURN_IF_ERROR(ask(
      task, context,
      [&](std::string_view text) -> Status {
        auto checked = checkNarrative(task, text, context);
        if (!checked) {
          return checked.status();
        }
        narrative = std::move(*checked);
        return Status();
      },
      &cached));
  narrative->provider = config_.name;
  narrative->cached = cached;
  return std::move(*narrative);
}

Status ChatProvider::ask(Task task, const AiContext& context, const Check& check, bool* cached) {
  Prompt prompt = buildPrompt(task, context, *redactor_, config_.max_context_bytes);
  TokenUsage usage;
  bool responded = false;
  std::string answer_text;
  if (cost_ == nullptr) {
    return call(prompt, check, &usage, &responded, &answer_text);
  }
  // The cache first: a hit costs nothing, and is checked against this context again (its
  // evidence must still exist). The task's system message is part of the key.
  const std::string key = cacheKey(config_.name, config_.model, prompt.system, prompt.user);
  auto hit = cost_->cachedAnswer(context.tenant_id, key);
  if (hit.isOk()) {
    Status checked = check(*hit);
    if (checked.isOk()) {
      *cached = true;
      ledger(task, context, TokenUsage{}, true, "cached");
      return checked;
    }
    log::info("ai", config_.name + ": a cached answer failed its checks now: " + checked.message());
  } else if (hit.status().code() != Errc::NotFound) {
    log::warn("ai", config_.name + ": response cache: " + hit.status().toString());
  }
  // Then the budget: reserve the most this call can cost, or make no call.
  const std::int64_t estimate =
      estimateTokens(prompt.system.size() + prompt.user.size(), config_.max_answer_tokens);
  auto reservation = cost_->reserve(context.tenant_id, estimate);
  if (!reservation) {
    if (reservation.status().code() == Errc::ResourceExhausted) {
      ledger(task, context, TokenUsage{}, false, "over_budget");
      return Status(Errc::ResourceExhausted, config_.name + ": " + reservation.status().message());
    }
    return unavailable(config_.name + ": token budget: " + reservation.status().message());
  }
  Status answer = call(prompt, check, &usage, &responded, &answer_text);
  // Settle with what the provider reported; a provider that answered without a usage block is
  // charged an estimate of what it read and wrote; nothing is charged when it never answered.
  std::int64_t spent = usage.prompt_tokens + usage.completion_tokens;
  if (spent == 0 && responded && !answer_text.empty()) {
    usage.prompt_tokens = estimate - static_cast<std::int64_t>(config_.max_answer_tokens);
    usage.completion_tokens = static_cast<std::int64_t>((answer_text.size() + 3) / 4);
    spent = usage.prompt_tokens + usage.completion_tokens;
  }
  Status settled = cost_->settle(*reservation, spent);
  if (!settled.isOk()) {
    log::warn("ai", config_.name + ": settling tokens: " + settled.toString());
  }
  if (!answer.isOk()) {
    ledger(task, context, usage, false, responded && !answer_text.empty() ? "rejected" : "error");
    return answer;
  }
  ledger(task, context, usage, false, "ok");
  Status remembered =
      cost_->remember(context.tenant_id, key, config_.name, config_.model, answer_text);
  if (!remembered.isOk()) {
    log::warn("ai", config_.name + ": response cache: " + remembered.toString());
  }
  return answer;
}

}  // namespace faultline::aggregator::ai
