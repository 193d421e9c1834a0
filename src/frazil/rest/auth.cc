#include "frazil/rest/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "frazil/base/strings.h"

namespace frazil::rest {

namespace {

using server::HttpRequest;
using server::HttpResponse;

constexpr std::string_view kTokenPrefix = "frz1.";
constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";
constexpr std::string_view kTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange";

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view AccessName(Access a) { return a == Access::kReadOnly ? "ro" : "rw"; }

// The OAuth2 error shape (RFC 6749 section 5.2), which the REST spec uses for this endpoint.
HttpResponse OAuthError(int status, std::string_view error, std::string_view description) {
  HttpResponse r = HttpResponse::Json(status, nlohmann::json{{"error", error}, {"error_description", description}});
  if (status == 401) r.headers.Set("WWW-Authenticate", "Basic realm=\"frazil\"");
  return r;
}

// application/x-www-form-urlencoded body -> first value of each name.
Result<std::map<std::string, std::string>> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string_view part = body.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      FRZ_ASSIGN_OR_RETURN(std::string name, server::PercentDecode(part.substr(0, eq), true));
      std::string value;
      if (eq != std::string_view::npos) {
        FRZ_ASSIGN_OR_RETURN(value, server::PercentDecode(part.substr(eq + 1), true));
      }
      out.emplace(std::move(name), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return out;
}

}  // namespace

std::string NewSigningKey() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no entropy: nothing safe to do
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Authenticator::Authenticator(AuthOptions options) : options_(std::move(options)) {}

std::string Authenticator::MakeToken(const Principal& principal, int64_t now_s) const {
  nlohmann::json payload = {{"sub", principal.client_id},
                            {"acc", AccessName(principal.access)},
                            {"exp", now_s + options_.token_ttl_seconds}};
  std::string body = Base64Encode(payload.dump(), true);
  std::string signed_part = std::string(kTokenPrefix) + body;
  return signed_part + "." + Base64Encode(Hmac(options_.signing_key, signed_part), true);
}

namespace {

// The principal a token names, or why it is not valid.
Result<Principal> VerifyToken(std::string_view token, std::string_view key, int64_t now_s) {
  auto invalid = [](std::string_view why) {
    return MakeError(ErrorKind::kNotAuthorized, "invalid bearer token: " + std::string(why));
  };
  if (!token.starts_with(kTokenPrefix)) return invalid("not issued by this catalog");
  size_t dot = token.rfind('.');
  if (dot == std::string_view::npos || dot < kTokenPrefix.size()) return invalid("malformed");
  std::string_view signed_part = token.substr(0, dot);
  std::optional<std::string> mac = Base64Decode(token.substr(dot + 1));
  if (!mac || !ConstantTimeEquals(*mac, Hmac(key, signed_part))) return invalid("bad signature");
  std::optional<std::string> text = Base64Decode(signed_part.substr(kTokenPrefix.size()));
  if (!text) return invalid("malformed");
  nlohmann::json payload = nlohmann::json::parse(*text, nullptr, false);
  if (!payload.is_object() || !payload.contains("sub") || !payload["sub"].is_string() ||
      !payload.contains("exp") || !payload["exp"].is_number_integer() || !payload.contains("acc")) {
    return invalid("malformed");
  }
  if (payload["exp"].get<int64_t>() <= now_s) {
    return MakeError(ErrorKind::kNotAuthorized, "bearer token expired; request a new one from /v1/oauth/tokens");
  }
  Principal p;
  p.client_id = payload["sub"].get<std::string>();
  p.access = payload["acc"] == "ro" ? Access::kReadOnly : Access::kReadWrite;
  return p;
}

}  // namespace

Result<Principal> Authenticator::Authenticate(const HttpRequest& request, int64_t now_s) const {
  const std::string* header = request.headers.Find("Authorization");
  std::string_view token;
  if (header) {
    std::string_view h = *header;
    if (h.size() > 7 && server::EqualsIgnoreCase(h.substr(0, 7), "Bearer ")) {
      token = h.substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    } else if (options_.required) {
      return MakeError(ErrorKind::kNotAuthorized, "the Authorization header must be 'Bearer <token>'");
    }
  }
  if (!options_.required) {
    // Authentication is off: a valid token still names its client (for logs); anything else is
    // the anonymous read-write principal.
    if (!token.empty()) {
      if (auto p = VerifyToken(token, options_.signing_key, now_s)) return p;
    }
    return Principal{"anonymous", Access::kReadWrite};
  }
  if (token.empty()) {
    return MakeError(ErrorKind::kNotAuthorized,
                     "authentication required: send 'Authorization: Bearer <token>' (tokens from POST /v1/oauth/tokens)");
  }
  return VerifyToken(token, options_.signing_key, now_s);
}

HttpResponse Authenticator::IssueToken(const HttpRequest& request, int64_t now_s) const {
  std::string content_type = request.headers.Get("Content-Type");
  if (!content_type.empty() && content_type.find("application/x-www-form-urlencoded") == std::string::npos) {
    return OAuthError(400, "invalid_request", "the token request must be application/x-www-form-urlencoded");
  }
  auto form = ParseForm(request.body);
  if (!form) return OAuthError(400, "invalid_request", form.error().message);
  auto get = [&](const char* k) -> std::string {
    auto it = form->find(k);
    return it == form->end() ? std::string() : it->second;
  };
  std::string grant = get("grant_type");
  std::string client_id = get("client_id");
  std::string secret = get("client_secret");
  if (const std::string* auth = request.headers.Find("Authorization");
      auth && auth->size() > 6 && server::EqualsIgnoreCase(std::string_view(*auth).substr(0, 6), "Basic ")) {
    std::optional<std::string> pair = Base64Decode(std::string_view(*auth).substr(6));
    if (!pair || pair->find(':') == std::string::npos) {
      return OAuthError(400, "invalid_request", "malformed HTTP Basic credentials");
    }
    auto id = server::PercentDecode(pair->substr(0, pair->find(':')), true);
    auto sec = server::PercentDecode(pair->substr(pair->find(':') + 1), true);
    if (!id || !sec) return OAuthError(400, "invalid_request", "malformed HTTP Basic credentials");
    client_id = *id;
    secret = *sec;
  }

  Principal principal;
  if (grant == "client_credentials") {
    if (client_id.empty()) return OAuthError(400, "invalid_request", "client_id is required");
    const RestClientGrant* found = nullptr;
    for (const auto& c : options_.clients) {
      if (c.id == client_id) found = &c;
    }
    if (found) {
      if (!ConstantTimeEquals(found->secret, secret)) {
        return OAuthError(401, "invalid_client", "unknown client or wrong secret");
      }
      principal = {found->id, found->access};
    } else if (options_.required) {
      return OAuthError(401, "invalid_client", "unknown client or wrong secret");
    } else {
      principal = {client_id, Access::kReadWrite};  // authentication is off
    }
  } else if (grant == kTokenExchange) {
    // Java clients refresh a token by exchanging it for a new one.
    auto p = VerifyToken(get("subject_token"), options_.signing_key, now_s);
    if (!p) return OAuthError(401, "invalid_grant", p.error().message);
    principal = *p;
  } else if (grant.empty()) {
    return OAuthError(400, "invalid_request", "grant_type is required");
  } else {
    return OAuthError(400, "unsupported_grant_type",
                      "grant_type '" + grant + "' is not supported; use client_credentials");
  }
  nlohmann::json body = {{"access_token", MakeToken(principal, now_s)},
                         {"token_type", "bearer"},
                         {"expires_in", options_.token_ttl_seconds},
                         {"issued_token_type", kAccessTokenType}};
  HttpResponse r = HttpResponse::Json(200, body);
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

}  // namespace frazil::rest
