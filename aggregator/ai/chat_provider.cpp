#include "aggregator/ai/chat_provider.h"

#include <nlohmann/json.hpp>

namespace faultline::aggregator::ai {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxResponseBytes = 1024 * 1024;

}  // namespace

Result<std::unique_ptr<ChatProvider>> ChatProvider::create(
    ChatProviderConfig config, std::shared_ptr<const notify::HttpClient> client,
    std::shared_ptr<const redact::Redactor> redactor) {
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
  return std::unique_ptr<ChatProvider>(
      new ChatProvider(std::move(config), *url, std::move(client), std::move(redactor)));
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

Result<Runbook> ChatProvider::generate(const AiContext& context) {
  Prompt prompt = buildRunbookPrompt(context, *redactor_, config_.max_context_bytes);
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
  if (response->status < 200 || response->status >= 300) {
    return unavailable(config_.name + ": HTTP " + std::to_string(response->status));
  }
  TokenUsage usage;
  FL_ASSIGN_OR_RETURN(std::string answer, answerText(response->body, &usage));
  FL_ASSIGN_OR_RETURN(Runbook runbook, checkAnswer(answer, context));
  runbook.provider = config_.name;
  return runbook;
}

}  // namespace faultline::aggregator::ai
