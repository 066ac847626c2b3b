#include "aggregator/knowledge/embedder.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "aggregator/store/knowledge_records.h"

namespace faultline::aggregator::knowledge {
namespace {

using nlohmann::json;

}  // namespace

Result<std::vector<std::vector<float>>> parseEmbeddingsAnswer(std::string_view body,
                                                              std::size_t count) {
  json answer = json::parse(body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object() || !answer.contains("data") ||
      !answer["data"].is_array()) {
    return unavailable("embeddings: the answer has no data array");
  }
  const json& data = answer["data"];
  if (data.size() != count) {
    return unavailable("embeddings: " + std::to_string(data.size()) + " vectors for " +
                       std::to_string(count) + " inputs");
  }
  std::vector<std::vector<float>> out(count);
  std::size_t dimensions = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const json& item = data[i];
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array()) {
      return unavailable("embeddings: item " + std::to_string(i) + " has no embedding");
    }
    std::size_t index = i;
    if (item.contains("index")) {
      if (!item["index"].is_number_unsigned() || item["index"].get<std::size_t>() >= count) {
        return unavailable("embeddings: item " + std::to_string(i) + " has a bad index");
      }
      index = item["index"].get<std::size_t>();
    }
    if (!out[index].empty()) {
      return unavailable("embeddings: input " + std::to_string(index) + " answered twice");
    }
    const json& vector = item["embedding"];
    if (vector.empty() || vector.size() > store::kMaxEmbeddingDimensions) {
      return unavailable("embeddings: a vector of " + std::to_string(vector.size()) +
                         " dimensions (1 to " + std::to_string(store::kMaxEmbeddingDimensions) +
                         ")");
    }
    if (dimensions != 0 && vector.size() != dimensions) {
      return unavailable("embeddings: vectors of different dimensions");
    }
    dimensions = vector.size();
    out[index].reserve(vector.size());
    for (const json& value : vector) {
      if (!value.is_number()) {
        return unavailable("embeddings: a vector holds a non-number");
      }
      const double number = value.get<double>();
      if (!std::isfinite(number) || std::fabs(number) > 1e30) {
        return unavailable("embeddings: a vector holds a value out of range");
      }
      out[index].push_back(static_cast<float>(number));
    }
  }
  return out;
}

Result<std::unique_ptr<OpenAiEmbedder>> OpenAiEmbedder::create(
    OpenAiEmbedderConfig config, std::shared_ptr<const notify::HttpClient> client) {
  if (config.model.empty()) {
    return invalidArgument("ai.embeddings.model: required when ai.embeddings.provider is set");
  }
  if (client == nullptr) {
    return invalidArgument("embeddings: no HTTP client");
  }
  std::string base = config.url;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  auto url = notify::parseHttpUrl(base + "/embeddings");
  if (!url) {
    return invalidArgument("ai.openai.url: " + url.status().message());
  }
  return std::unique_ptr<OpenAiEmbedder>(
      new OpenAiEmbedder(std::move(config), std::move(*url), std::move(client)));
}

std::string OpenAiEmbedder::requestBody(const std::vector<std::string>& texts) const {
  json input = json::array();
  for (const std::string& text : texts) {
    input.push_back(text.size() > kMaxEmbeddingInputBytes ? text.substr(0, kMaxEmbeddingInputBytes)
                                                          : text);
  }
  json body = {{"model", config_.model}, {"input", std::move(input)}};
  // A cut may split a UTF-8 sequence: replaced, never an exception.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<std::vector<float>>> OpenAiEmbedder::embed(
    const std::vector<std::string>& texts) {
  if (texts.empty()) {
    return std::vector<std::vector<float>>{};
  }
  if (texts.size() > kMaxEmbeddingBatch) {
    return invalidArgument("embeddings: more than " + std::to_string(kMaxEmbeddingBatch) +
                           " texts in one request");
  }
  notify::HttpRequest request;
  request.method = "POST";
  request.headers.emplace_back("Content-Type", "application/json");
  if (!config_.api_key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + config_.api_key);
  }
  request.body = requestBody(texts);
  request.timeout = config_.timeout;
  request.max_response_bytes = kMaxEmbeddingResponseBytes;
  auto response = client_->send(url_, request, "embeddings");
  if (!response) {
    return unavailable(response.status().message());
  }
  if (response->status < 200 || response->status >= 300) {
    return unavailable("embeddings: HTTP " + std::to_string(response->status));
  }
  return parseEmbeddingsAnswer(response->body, texts.size());
}

}  // namespace faultline::aggregator::knowledge
