// AWS Signature Version 4. Every OpenSSL call of the signer is in this file.
#include "frazil/io/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

namespace frazil::io {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr int64_t kMaxPresignSeconds = 7 * 24 * 3600;

// Headers a proxy, libcurl or the AWS SDKs' own tracing may add, drop or rewrite on the way:
// signing them would break the signature for no gain.
bool Unsigned(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "connection" || lower_name == "transfer-encoding" || lower_name == "x-amzn-trace-id";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX to the byte; a '%' not followed by two hex digits stays as it is (it is then encoded
// as %25, which is what a server that does the same decoding will compute).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The parts of an http(s) URL the signature covers.
struct UrlParts {
  std::string host;  // host[:port], without user info and without the scheme's default port
  std::string path;  // as in the URL (still escaped), may be empty
  std::string query; // after '?', before '#'
};

Result<UrlParts> ParseUrl(std::string_view url, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "SigV4: cannot " + std::string(what) + " " + RedactUrl(url) + ": " + std::string(why));
  };
  std::string_view rest = url;
  std::string_view default_port;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    default_port = "443";
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    default_port = "80";
  } else {
    return bad("the URL must start with http:// or https://");
  }
  rest = rest.substr(0, rest.find('#'));
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty()) return bad("the URL has no host");
  // Only strip a port after the last ']' (IPv6 literals contain ':').
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket) &&
      authority.substr(colon + 1) == default_port) {
    authority = authority.substr(0, colon);
  }
  UrlParts parts;
  parts.host = Lower(authority);
  size_t q = rest.find('?');
  parts.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) parts.query = std::string(rest.substr(q + 1));
  return parts;
}

// RFC 3986 section 5.2.4 dot-segment removal, plus collapsing of empty segments; a trailing
// '/' survives.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view seg = path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (std::string_view seg : segments) {
    out += '/';
    out += seg;
  }
  bool trailing = path.size() > 1 && (path.ends_with("/") || path.ends_with("/.") || path.ends_with("/.."));
  if (out.empty() || trailing) out += '/';
  return out;
}

std::string CanonicalUri(std::string_view path, std::string_view service) {
  if (path.empty()) return "/";
  if (service == "s3") return UriEncode(PercentDecode(path), false);
  return UriEncode(NormalizePath(path), false);
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    std::string_view item = query.substr(start, amp == std::string_view::npos ? query.npos : amp - start);
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string_view name = item.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
      params.emplace_back(UriEncode(PercentDecode(name), true), UriEncode(PercentDecode(value), true));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// Leading and trailing blanks removed, every inner run of blanks one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

bool IsPayloadHash(std::string_view hash) {
  if (hash == kUnsignedPayload) return true;
  return hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string DateOf(std::string_view amz_date) { return std::string(amz_date.substr(0, 8)); }

Status CheckInputs(const HttpRequest& request, const AwsCredentials& credentials, std::string_view region,
                   std::string_view service, std::string_view payload_hash, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "SigV4: cannot " + std::string(what) + " " + RedactUrl(request.url) + ": " + std::string(why));
  };
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return bad("no access key id or secret access key");
  }
  if (region.empty() || service.empty()) return bad("no region or service");
  if (request.method.empty()) return bad("no method");
  if (!payload_hash.empty() && !IsPayloadHash(payload_hash)) {
    return bad("the payload hash is neither 64 lower-case hex digits nor UNSIGNED-PAYLOAD");
  }
  return Ok();
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '~';
    if (unreserved || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure; an empty result then fails every signature
  // check instead of signing something else.
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string AmzDate(int64_t epoch_seconds) {
  using namespace std::chrono;
  sys_seconds t{seconds(epoch_seconds)};
  sys_days day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02u%02u%02uZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<unsigned>(hms.hours().count()), static_cast<unsigned>(hms.minutes().count()),
                static_cast<unsigned>(hms.seconds().count()));
  return buf;
}

std::string SigningKey(std::string_view secret_access_key, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k_secret = "AWS4" + std::string(secret_access_key);
  std::string k_date = HmacSha256(k_secret, date);
  std::string k_region = HmacSha256(k_date, region);
  std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, kTerminator);
}

std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += Sha256Hex(canonical_request);
  return out;
}

Result<CanonicalRequestV4> CanonicalRequest(const HttpRequest& request, std::string_view service,
                                            std::string_view payload_sha256_hex) {
  FRZ_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request.url, "sign"));
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = Lower(name);
    if (Unsigned(lower)) continue;
    auto [it, inserted] = headers.try_emplace(std::move(lower), TrimAll(value));
    if (!inserted) {
      it->second += ',';
      it->second += TrimAll(value);
    }
  }
  CanonicalRequestV4 out;
  out.text = request.method;
  out.text += '\n';
  out.text += CanonicalUri(url.path, service);
  out.text += '\n';
  out.text += CanonicalQuery(url.query);
  out.text += '\n';
  for (const auto& [name, value] : headers) {
    out.text += name;
    out.text += ':';
    out.text += value;
    out.text += '\n';
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  out.text += '\n';
  out.text += out.signed_headers;
  out.text += '\n';
  out.text += payload_sha256_hex;
  return out;
}

Status SignRequestV4(HttpRequest* request, const AwsCredentials& credentials, std::string_view region,
                     std::string_view service, int64_t now_epoch_seconds,
                     std::string_view payload_sha256_hex_or_empty) {
  FRZ_RETURN_IF_ERROR(CheckInputs(*request, credentials, region, service, payload_sha256_hex_or_empty, "sign"));
  FRZ_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request->url, "sign"));

  // Work on a copy so that a failure leaves the caller's request as it was.
  HttpRequest signed_request = *request;
  HttpFields& h = signed_request.headers;
  h.Remove("Authorization");
  if (!h.Has("Host")) h.Set("Host", url.host);
  std::string amz_date = AmzDate(now_epoch_seconds);
  h.Set("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty()) {
    h.Set("X-Amz-Security-Token", credentials.session_token);
  }
  std::string payload_hash = payload_sha256_hex_or_empty.empty() ? Sha256Hex(signed_request.body)
                                                                 : std::string(payload_sha256_hex_or_empty);
  if (service == "s3") h.Set("X-Amz-Content-SHA256", payload_hash);

  FRZ_ASSIGN_OR_RETURN(CanonicalRequestV4 canonical, CanonicalRequest(signed_request, service, payload_hash));
  std::string scope = DateOf(amz_date) + "/" + std::string(region) + "/" + std::string(service) + "/" +
                      std::string(kTerminator);
  std::string signature = HexEncode(HmacSha256(
      SigningKey(credentials.secret_access_key, DateOf(amz_date), region, service),
      StringToSign(amz_date, scope, canonical.text)));
  h.Set("Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" + scope +
                             ", SignedHeaders=" + canonical.signed_headers + ", Signature=" + signature);
  *request = std::move(signed_request);
  return Ok();
}

Result<std::string> PresignUrlV4(const HttpRequest& request, const AwsCredentials& credentials,
                                 std::string_view region, std::string_view service, int64_t now_epoch_seconds,
                                 int64_t expires_seconds, std::string_view payload_sha256_hex_or_empty) {
  FRZ_RETURN_IF_ERROR(
      CheckInputs(request, credentials, region, service, payload_sha256_hex_or_empty, "presign"));
  FRZ_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request.url, "presign"));
  if (expires_seconds < 1 || expires_seconds > kMaxPresignSeconds) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "SigV4: cannot presign " + RedactUrl(request.url) + ": expiry must be 1..604800 seconds");
  }
  if (CanonicalQuery(url.query).find("X-Amz-Signature=") != std::string::npos) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "SigV4: cannot presign " + RedactUrl(request.url) + ": the URL is already signed");
  }

  HttpRequest to_sign = request;
  to_sign.headers.Remove("Authorization");
  if (!to_sign.headers.Has("Host")) to_sign.headers.Set("Host", url.host);
  std::string amz_date = AmzDate(now_epoch_seconds);
  std::string scope = DateOf(amz_date) + "/" + std::string(region) + "/" + std::string(service) + "/" +
                      std::string(kTerminator);
  std::string payload_hash;
  if (!payload_sha256_hex_or_empty.empty()) {
    payload_hash = payload_sha256_hex_or_empty;
  } else if (service == "s3") {
    payload_hash = kUnsignedPayload;
  } else {
    payload_hash = Sha256Hex(request.body);
  }

  // The signed header list is part of the signed query, so compute it first.
  FRZ_ASSIGN_OR_RETURN(CanonicalRequestV4 headers_only, CanonicalRequest(to_sign, service, payload_hash));
  std::vector<std::pair<std::string, std::string>> auth = {
      {"X-Amz-Algorithm", std::string(kAlgorithm)},
      {"X-Amz-Credential", credentials.access_key_id + "/" + scope},
      {"X-Amz-Date", amz_date},
      {"X-Amz-Expires", std::to_string(expires_seconds)},
  };
  if (!credentials.session_token.empty()) auth.emplace_back("X-Amz-Security-Token", credentials.session_token);
  auth.emplace_back("X-Amz-SignedHeaders", headers_only.signed_headers);

  std::string query = url.query;
  for (const auto& [name, value] : auth) {
    if (!query.empty()) query += '&';
    query += name;
    query += '=';
    query += UriEncode(value, true);
  }
  std::string base = request.url.substr(0, request.url.find_first_of("?#"));
  to_sign.url = base + "?" + query;
  FRZ_ASSIGN_OR_RETURN(CanonicalRequestV4 canonical, CanonicalRequest(to_sign, service, payload_hash));
  std::string signature = HexEncode(HmacSha256(
      SigningKey(credentials.secret_access_key, DateOf(amz_date), region, service),
      StringToSign(amz_date, scope, canonical.text)));
  return to_sign.url + "&X-Amz-Signature=" + signature;
}

}  // namespace frazil::io
