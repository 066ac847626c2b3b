#include "aggregator/events/sns_verify.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <utility>

#include "aggregator/notify/http_client.h"
#include "shared/util/c_deleter.h"

namespace faultline::aggregator::events {
namespace {

using X509Ptr = CPtr<X509, &X509_free>;
using PkeyPtr = CPtr<EVP_PKEY, &EVP_PKEY_free>;
using BioPtr = CPtr<BIO, &BIO_free>;
using StorePtr = CPtr<X509_STORE, &X509_STORE_free>;
using StoreCtxPtr = CPtr<X509_STORE_CTX, &X509_STORE_CTX_free>;
using MdCtxPtr = CPtr<EVP_MD_CTX, &EVP_MD_CTX_free>;

void freeCertStack(STACK_OF(X509) * certs) {
  sk_X509_pop_free(certs, X509_free);
}
using CertStackPtr = CPtr<STACK_OF(X509), &freeCertStack>;

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/// `pattern` with '*' as exactly one non-empty DNS label, against a lower-cased host.
bool hostMatches(std::string_view pattern, std::string_view host) {
  std::size_t p = 0;
  std::size_t h = 0;
  while (p < pattern.size()) {
    if (pattern[p] == '*') {
      std::size_t start = h;
      while (h < host.size() && isLabelChar(host[h])) {
        ++h;
      }
      if (h == start) {
        return false;
      }
      ++p;
      continue;
    }
    if (h >= host.size() || host[h] != pattern[p]) {
      return false;
    }
    ++p;
    ++h;
  }
  return h == host.size();
}

/// The certificate's notAfter as a system_clock time.
std::chrono::system_clock::time_point notAfter(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    return std::chrono::system_clock::time_point{};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

struct CachedCert {
  std::shared_ptr<EVP_PKEY> key;  // shared: a verify in flight keeps it past an eviction
  std::chrono::system_clock::time_point expires;
};

}  // namespace

struct SnsVerifier::Impl {
  SnsVerifierOptions options;
  std::vector<std::string> host_patterns;
  std::unique_ptr<notify::HttpClient> client;  // fetches (server chain and host name checked)
  StorePtr cert_store;                         // for the signing certificate's chain
  mutable std::mutex mu;
  std::map<std::string, CachedCert> cache;

  Status loadTrust(X509_STORE* store) const {
    if (X509_STORE_set_default_paths(store) != 1) {
      return internalError("load the system CA store: " + notify::opensslError("failed"));
    }
    if (!options.extra_ca_file.empty() &&
        X509_STORE_load_file(store, options.extra_ca_file.c_str()) != 1) {
      return invalidArgument("webhooks.sns_extra_ca_file: cannot load " + options.extra_ca_file +
                             ": " + notify::opensslError("bad PEM"));
    }
    return Status::ok();
  }

  Result<notify::HttpResponse> get(const SnsUrl& url, std::size_t max_body, std::string_view what) {
    notify::HttpUrl target{
        .tls = true, .host = url.host, .port = url.port, .path_and_query = url.path_and_query};
    notify::HttpRequest request;
    request.timeout = options.fetch_timeout;
    request.max_response_bytes = max_body;
    return client->send(target, request, what);
  }

  /// The public key of a verified SNS certificate from `url`, cached.
  Result<std::shared_ptr<EVP_PKEY>> certificateKey(const std::string& url) {
    const auto now = std::chrono::system_clock::now();
    {
      std::lock_guard lock(mu);
      auto it = cache.find(url);
      if (it != cache.end()) {
        if (it->second.expires > now) {
          return it->second.key;
        }
        cache.erase(it);
      }
    }
    FL_ASSIGN_OR_RETURN(SnsUrl parsed, checkUrlImpl(url, true));
    auto fetched = get(parsed, options.max_cert_bytes, "fetch SNS certificate " + url);
    if (!fetched.isOk()) {
      return fetched.status();
    }
    if (fetched->status != 200) {
      return unavailable("fetch SNS certificate " + url + ": HTTP " +
                         std::to_string(fetched->status));
    }
    FL_ASSIGN_OR_RETURN(CachedCert cert, verifyCertificate(fetched->body, url));
    std::lock_guard lock(mu);
    if (cache.size() >= options.max_cached_certs && cache.find(url) == cache.end()) {
      auto soonest = std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
        return a.second.expires < b.second.expires;
      });
      if (soonest != cache.end()) {
        cache.erase(soonest);
      }
    }
    if (options.max_cached_certs > 0) {
      cache[url] = cert;
    }
    return cert.key;
  }

  /// Parses the PEM (leaf first, then any intermediates) and verifies the chain and dates.
  Result<CachedCert> verifyCertificate(const std::string& pem, const std::string& url) const {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (leaf == nullptr) {
      ERR_clear_error();
      return Status(Errc::Unauthenticated, "SNS certificate " + url + ": not a PEM certificate");
    }
    CertStackPtr intermediates(sk_X509_new_null());
    while (X509* more = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(intermediates.get(), more);
    }
    ERR_clear_error();  // the loop ends on "no start line"
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (ctx == nullptr ||
        X509_STORE_CTX_init(ctx.get(), cert_store.get(), leaf.get(), intermediates.get()) != 1) {
      return internalError("SNS certificate " + url + ": " +
                           notify::opensslError("store init failed"));
    }
    if (X509_verify_cert(ctx.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      ERR_clear_error();
      return Status(Errc::Unauthenticated, "SNS certificate " + url + " is not trusted: " +
                                               X509_verify_cert_error_string(err));
    }
    PkeyPtr key(X509_get_pubkey(leaf.get()));
    if (key == nullptr || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
      ERR_clear_error();
      return Status(Errc::Unauthenticated, "SNS certificate " + url + ": not an RSA key");
    }
    return CachedCert{std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free),
                      notAfter(leaf.get())};
  }

  Result<SnsUrl> checkUrlImpl(std::string_view url, bool require_pem) const {
    constexpr std::string_view kScheme = "https://";
    if (url.size() < kScheme.size() ||
        notify::asciiLower(url.substr(0, kScheme.size())) != kScheme) {
      return invalidArgument("SNS URL must be https: " + std::string(url.substr(0, 200)));
    }
    std::string_view rest = url.substr(kScheme.size());
    std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    if (authority.find('@') != std::string_view::npos) {
      return invalidArgument("SNS URL must not carry credentials");
    }
    SnsUrl out;
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      std::string_view port = authority.substr(colon + 1);
      if (port.empty() || port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return invalidArgument("SNS URL has a bad port: " + std::string(authority));
      }
      out.port = std::string(port);
      authority = authority.substr(0, colon);
    }
    out.host = notify::asciiLower(authority);
    bool allowed = false;
    for (const std::string& pattern : host_patterns) {
      allowed = allowed || hostMatches(pattern, out.host);
    }
    if (!allowed) {
      return invalidArgument("SNS URL host " + out.host.substr(0, 200) +
                             " is not allowed (webhooks.sns_cert_host_pattern)");
    }
    if (authority_end != std::string_view::npos) {
      std::string_view path = rest.substr(authority_end);
      path = path.substr(0, path.find('#'));
      if (!path.starts_with("/")) {
        path = {};
      }
      if (!path.empty()) {
        out.path_and_query = std::string(path);
      }
      for (char c : out.path_and_query) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
          return invalidArgument("SNS URL path has a control character or space");
        }
      }
    }
    if (require_pem) {
      std::string_view path = out.path_and_query;
      path = path.substr(0, path.find('?'));
      if (!path.ends_with(".pem")) {
        return invalidArgument("SNS certificate URL must end in .pem: " +
                               std::string(url.substr(0, 200)));
      }
    }
    return out;
  }
};

Result<std::string> decodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) {
    return invalidArgument("base64: length is not a multiple of 4");
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) {
    ERR_clear_error();
    return invalidArgument("base64: invalid character");
  }
  std::size_t padding = 0;
  if (text.back() == '=') {
    padding = text[text.size() - 2] == '=' ? 2 : 1;
  }
  // EVP_DecodeBlock skips leading/trailing whitespace and counts padding as zero bytes.
  if (static_cast<std::size_t>(n) != out.size() ||
      text.find_first_of(" \t\r\n") != std::string_view::npos) {
    return invalidArgument("base64: unexpected whitespace");
  }
  out.resize(out.size() - padding);
  return out;
}

SnsVerifier::SnsVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnsVerifier::~SnsVerifier() = default;

Result<std::unique_ptr<SnsVerifier>> SnsVerifier::create(SnsVerifierOptions options) {
  auto impl = std::make_unique<Impl>();
  std::string_view patterns = options.cert_host_pattern;
  while (!patterns.empty()) {
    std::size_t comma = patterns.find(',');
    std::string pattern = notify::asciiLower(patterns.substr(0, comma));
    pattern.erase(0, pattern.find_first_not_of(' '));
    pattern.erase(pattern.find_last_not_of(' ') + 1);
    bool valid = !pattern.empty() && std::all_of(pattern.begin(), pattern.end(), [](char c) {
      return isLabelChar(c) || c == '.' || c == '*';
    });
    if (!valid) {
      return invalidArgument("webhooks.sns_cert_host_pattern: bad pattern '" + pattern +
                             "' (host names with '*' for one label, comma-separated)");
    }
    impl->host_patterns.push_back(std::move(pattern));
    patterns = comma == std::string_view::npos ? std::string_view() : patterns.substr(comma + 1);
  }
  if (impl->host_patterns.empty()) {
    return invalidArgument("webhooks.sns_cert_host_pattern: empty");
  }
  if (options.fetch_timeout.count() <= 0 || options.max_cert_bytes == 0) {
    return invalidArgument("SNS verifier: timeout and size cap must be positive");
  }
  impl->options = std::move(options);
  impl->cert_store.reset(X509_STORE_new());
  if (impl->cert_store == nullptr) {
    return internalError("SNS verifier: " + notify::opensslError("OpenSSL allocation failed"));
  }
  FL_RETURN_IF_ERROR(impl->loadTrust(impl->cert_store.get()));
  // The fetches trust the same CAs as the signing certificate's chain.
  auto client = notify::HttpClient::create({.extra_ca_file = impl->options.extra_ca_file});
  if (!client.isOk()) {
    return invalidArgument("webhooks.sns_extra_ca_file: " + client.status().message());
  }
  impl->client = std::move(*client);
  return std::unique_ptr<SnsVerifier>(new SnsVerifier(std::move(impl)));
}

Result<SnsUrl> SnsVerifier::checkUrl(std::string_view url, bool require_pem) const {
  return impl_->checkUrlImpl(url, require_pem);
}

std::size_t SnsVerifier::cachedCertificates() const {
  std::lock_guard lock(impl_->mu);
  return impl_->cache.size();
}

Status SnsVerifier::verify(const SnsEnvelope& envelope) {
  const EVP_MD* digest = nullptr;
  if (envelope.signature_version == "1") {
    digest = EVP_sha1();
  } else if (envelope.signature_version == "2") {
    digest = EVP_sha256();
  } else {
    return Status(Errc::Unauthenticated, "SNS SignatureVersion '" +
                                             envelope.signature_version.substr(0, 16) +
                                             "' is not supported (1 or 2)");
  }
  auto signature = decodeBase64(envelope.signature);
  if (!signature.isOk()) {
    return Status(Errc::Unauthenticated, "SNS Signature: " + signature.status().message());
  }
  // The URL is checked before anything is fetched; a broken rule is the sender's fault.
  FL_RETURN_IF_ERROR(impl_->checkUrlImpl(envelope.signing_cert_url, true).status());
  FL_ASSIGN_OR_RETURN(std::shared_ptr<EVP_PKEY> key,
                      impl_->certificateKey(envelope.signing_cert_url));
  MdCtxPtr md(EVP_MD_CTX_new());
  if (md == nullptr || EVP_DigestVerifyInit(md.get(), nullptr, digest, nullptr, key.get()) != 1) {
    return internalError("SNS signature check: " + notify::opensslError("init failed"));
  }
  const int rc = EVP_DigestVerify(
      md.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
      reinterpret_cast<const unsigned char*>(envelope.string_to_sign.data()),
      envelope.string_to_sign.size());
  ERR_clear_error();
  if (rc != 1) {
    return Status(Errc::Unauthenticated, "SNS signature does not match the message (MessageId " +
                                             envelope.message_id.substr(0, 100) + ")");
  }
  return Status::ok();
}

Status SnsVerifier::confirmSubscription(const SnsEnvelope& envelope) {
  if (envelope.type != "SubscriptionConfirmation") {
    return Status(Errc::FailedPrecondition,
                  "SNS " + envelope.type.substr(0, 64) + " is not a SubscriptionConfirmation");
  }
  FL_ASSIGN_OR_RETURN(SnsUrl url, impl_->checkUrlImpl(envelope.subscribe_url, false));
  FL_ASSIGN_OR_RETURN(
      notify::HttpResponse response,
      impl_->get(url, impl_->options.max_confirm_bytes, "confirm SNS subscription"));
  if (response.status != 200) {
    return unavailable("confirm SNS subscription: HTTP " + std::to_string(response.status));
  }
  return Status::ok();
}

Status SnsVerifier::accept(const SnsEnvelope& envelope) {
  FL_RETURN_IF_ERROR(verify(envelope));
  if (envelope.type == "SubscriptionConfirmation") {
    return confirmSubscription(envelope);
  }
  return Status::ok();
}

}  // namespace faultline::aggregator::events
