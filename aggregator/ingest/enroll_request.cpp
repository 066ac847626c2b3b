#include "aggregator/ingest/enroll_request.h"

#include <exception>
#include <nlohmann/json.hpp>

namespace faultline::aggregator::ingest {
namespace {

using json = nlohmann::json;

// A SAX handler rather than a DOM: the body must be one flat object, so anything nested is
// refused at its first byte and nothing is built that is not kept.
class EnrollSax {
 public:
  explicit EnrollSax(EnrollRequest& out) : out_(out) {}

  bool null() { return wrongType("null"); }
  bool boolean(bool /*value*/) { return wrongType("a boolean"); }
  bool number_integer(json::number_integer_t /*value*/) { return wrongType("a number"); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return wrongType("a number"); }
  bool number_float(json::number_float_t /*value*/, const json::string_t& /*text*/) {
    return wrongType("a number");
  }
  bool binary(json::binary_t& /*value*/) { return wrongType("binary"); }
  bool start_array(std::size_t /*elements*/) { return wrongType("an array"); }
  bool end_array() { return fail("unexpected end of array"); }

  bool start_object(std::size_t /*elements*/) {
    if (depth_ != 0) {
      return wrongType("an object");
    }
    depth_ = 1;
    return true;
  }
  bool end_object() {
    depth_ = 0;
    return true;
  }
  bool key(json::string_t& name) {
    if (name == "token") {
      field_ = &out_.token;
      return seen(0, name);
    }
    if (name == "hostname") {
      field_ = &out_.hostname;
      return seen(1, name);
    }
    if (name == "version") {
      field_ = &out_.version;
      return seen(2, name);
    }
    return fail("unknown field '" + name.substr(0, 64) + "'");
  }
  bool string(json::string_t& value) {
    if (depth_ == 0 || field_ == nullptr) {
      return fail("body must be a JSON object");
    }
    *field_ = std::move(value);
    field_ = nullptr;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return fail("malformed JSON near byte " + std::to_string(position));
  }

  bool sawToken() const { return seen_[0]; }
  const std::string& error() const { return error_; }

 private:
  bool wrongType(std::string_view what) {
    if (depth_ == 0) {
      return fail("body must be a JSON object");
    }
    return fail("field '" + std::string(current_key_) + "' must be a string, not " +
                std::string(what));
  }
  bool seen(int index, const std::string& name) {
    if (seen_[index]) {
      return fail("duplicate field '" + name + "'");
    }
    seen_[index] = true;
    current_key_ = index == 0 ? "token" : index == 1 ? "hostname" : "version";
    return true;
  }
  bool fail(std::string message) {
    if (error_.empty()) {
      error_ = std::move(message);
    }
    return false;
  }

  EnrollRequest& out_;
  int depth_ = 0;
  std::string* field_ = nullptr;
  std::string_view current_key_;
  bool seen_[3] = {false, false, false};
  std::string error_;
};

}  // namespace

Result<EnrollRequest> parseEnrollRequest(std::string_view body) {
  if (body.size() > kMaxEnrollBodyBytes) {
    return Status(Errc::ResourceExhausted,
                  "enroll request larger than " + std::to_string(kMaxEnrollBodyBytes) + " bytes");
  }
  EnrollRequest request;
  EnrollSax sax(request);
  bool ok = false;
  try {
    ok = json::sax_parse(body.begin(), body.end(), &sax, json::input_format_t::json, true);
  } catch (const std::exception& e) {
    return invalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!ok) {
    return invalidArgument(sax.error().empty() ? "malformed JSON" : sax.error());
  }
  if (!sax.sawToken()) {
    return invalidArgument("field 'token' is required");
  }
  if (request.token.empty() || request.token.size() > kMaxEnrollTokenBytes) {
    return invalidArgument("field 'token' must be 1 to " + std::to_string(kMaxEnrollTokenBytes) +
                           " bytes");
  }
  if (request.hostname.size() > kMaxEnrollFieldBytes) {
    return invalidArgument("field 'hostname' longer than " + std::to_string(kMaxEnrollFieldBytes) +
                           " bytes");
  }
  if (request.version.size() > kMaxEnrollFieldBytes) {
    return invalidArgument("field 'version' longer than " + std::to_string(kMaxEnrollFieldBytes) +
                           " bytes");
  }
  return request;
}

}  // namespace faultline::aggregator::ingest
