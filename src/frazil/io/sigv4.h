// AWS Signature Version 4 (AWS4-HMAC-SHA256): signs an io::HttpRequest in place for the S3
// FileIO, either with an Authorization header or as a presigned URL. Pure functions of their
// inputs (the time is a parameter), so every step can be checked against AWS's published
// vectors (sigv4_test.cc, docs/s3.md).
//
// What is signed: the method, the canonical URI and query of `request.url`, every header of
// the request except those a proxy or transport may add or rewrite (Authorization,
// User-Agent, Expect, Connection, Transfer-Encoding, X-Amzn-Trace-Id), and the payload hash.
// Secrets never appear in an error message; URLs in messages lose their query string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frazil/base/result.h"
#include "frazil/io/http_client.h"

namespace frazil::io {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term credentials (no x-amz-security-token)
};

// The payload hash S3 accepts in place of a body hash (the body is then not signed).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// Signs `request` for `region` / `service` at `now_epoch_seconds` (UTC):
//  - sets x-amz-date, and x-amz-security-token when the credentials carry a session token;
//  - for service "s3", sets x-amz-content-sha256 to `payload_sha256_hex_or_empty`, or to the
//    SHA-256 of `request->body` when that is empty (pass kUnsignedPayload to not sign the
//    body); other services sign the given hash, or the body's, without sending a header;
//  - adds Host (from the URL, without a default port) when absent;
//  - replaces any Authorization with
//    "AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request,
//     SignedHeaders=<names>, Signature=<hex>".
// Errors: InvalidArgument for missing credentials, region or service, a URL that is not
// http(s)://host/..., or a payload hash that is neither 64 hex digits nor UNSIGNED-PAYLOAD.
// On error `request` is unchanged.
Status SignRequestV4(HttpRequest* request, const AwsCredentials& credentials, std::string_view region,
                     std::string_view service, int64_t now_epoch_seconds,
                     std::string_view payload_sha256_hex_or_empty);

// Query-string authentication: `request.url` with X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders (and X-Amz-Security-Token) added to its
// query and X-Amz-Signature last. Signs the request's headers as SignRequestV4 does, Host
// always. The payload hash is `payload_sha256_hex_or_empty`, or when empty UNSIGNED-PAYLOAD
// for "s3" and the SHA-256 of the body otherwise. `expires_seconds` must be in 1..604800.
// Errors: as SignRequestV4, and InvalidArgument for an out-of-range expiry or a URL that
// already carries X-Amz-Signature.
Result<std::string> PresignUrlV4(const HttpRequest& request, const AwsCredentials& credentials,
                                 std::string_view region, std::string_view service, int64_t now_epoch_seconds,
                                 int64_t expires_seconds, std::string_view payload_sha256_hex_or_empty = {});

// --- The steps, exposed for tests ---

// The canonical request and the ';'-joined lower-case names of the headers it signs.
struct CanonicalRequestV4 {
  std::string text;
  std::string signed_headers;
};

// "<METHOD>\n<canonical URI>\n<canonical query>\n<canonical headers>\n\n<signed headers>\n<hash>"
// built from `request` exactly as it is (nothing is added: callers set Host and x-amz-*).
//  - URI: for "s3" the URL path percent-decoded then UriEncode(path, false) once, not
//    normalized; for other services the path with "." / ".." segments and repeated '/'
//    removed, then UriEncode(path, false) (so an already-escaped path is escaped twice, as
//    AWS requires for every service but S3). An empty path is "/".
//  - query: every name=value of the URL decoded, re-encoded with UriEncode(x, true), sorted by
//    name then value; a parameter without '=' has an empty value; '+' is a plus, not a space.
//  - headers: lower-case names, values trimmed with inner runs of spaces collapsed to one,
//    repeated names joined with ',' in order, sorted by name.
// Errors: InvalidArgument for a URL that is not http(s)://host/...
Result<CanonicalRequestV4> CanonicalRequest(const HttpRequest& request, std::string_view service,
                                            std::string_view payload_sha256_hex);

// "AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex SHA-256 of canonical request>", where scope
// is "<yyyymmdd>/<region>/<service>/aws4_request".
std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);

// The 32-byte (binary) signing key: HMAC chain over "AWS4"+secret, date (yyyymmdd), region,
// service and "aws4_request".
std::string SigningKey(std::string_view secret_access_key, std::string_view date, std::string_view region,
                       std::string_view service);

// Every byte except A-Z a-z 0-9 - _ . ~ as %XX with upper-case hex (space is %20, never '+');
// '/' is kept when `encode_slash` is false.
std::string UriEncode(std::string_view s, bool encode_slash);

// Lower-case hex of SHA-256(data) / HMAC-SHA256(key, data) (the latter binary).
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(std::string_view bytes);

// "20130524T000000Z" for the UTC time `epoch_seconds`.
std::string AmzDate(int64_t epoch_seconds);

}  // namespace frazil::io
