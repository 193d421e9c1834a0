// Authentication and authorization of the REST catalog: the OAuth2 client-credentials token
// endpoint (POST /v1/oauth/tokens), bearer tokens signed with HMAC-SHA256, and a read-only
// or read-write grant per client. docs/rest-catalog.md describes the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frazil/base/result.h"
#include "frazil/server/http.h"

namespace frazil::rest {

enum class Access { kReadOnly, kReadWrite };

struct RestClientGrant {
  std::string id;
  std::string secret;  // never logged
  Access access = Access::kReadWrite;
};

struct AuthOptions {
  // false: every request is served without credentials (allowed by default only when the
  // server listens on loopback; see the config's rest.auth).
  bool required = false;
  std::vector<RestClientGrant> clients;
  // Key that signs tokens (>= 32 bytes). Servers sharing it accept each other's tokens.
  std::string signing_key;
  int64_t token_ttl_seconds = 3600;
};

struct Principal {
  std::string client_id;  // "anonymous" when authentication is off
  Access access = Access::kReadWrite;
};

// 32 random bytes (OpenSSL's CSPRNG) as 64 hex characters: a fresh token signing key.
std::string NewSigningKey();

class Authenticator {
 public:
  explicit Authenticator(AuthOptions options);

  // Who sent `request`. Errors: NotAuthorized (401) for a missing, malformed, badly signed
  // or expired bearer token when authentication is required.
  Result<Principal> Authenticate(const server::HttpRequest& request, int64_t now_s) const;

  // POST /v1/oauth/tokens: the OAuth2 token endpoint (form body, grant_type
  // client_credentials; credentials in the body or HTTP Basic). Answers the OAuth2 error shape
  // {"error": "invalid_client", "error_description": ...} with 400/401 on failure.
  server::HttpResponse IssueToken(const server::HttpRequest& request, int64_t now_s) const;

  // A signed token for `principal` valid until now_s + ttl.
  std::string MakeToken(const Principal& principal, int64_t now_s) const;

  bool required() const { return options_.required; }

 private:
  AuthOptions options_;
};

}  // namespace frazil::rest
