// The S3 FileIO's pure protocol pieces: locations, the retry backoff, and the XML of S3's
// answers and request bodies (declared in s3_file_io.h).
#include <algorithm>
#include <cstdlib>
#include <random>

#include "frazil/io/s3_file_io.h"

namespace frazil::io {
namespace {

std::string_view SchemeOf(std::string_view location) {
  size_t p = location.find("://");
  return p == std::string_view::npos ? std::string_view() : location.substr(0, p);
}

}  // namespace

bool IsS3Location(std::string_view location) {
  std::string_view scheme = SchemeOf(location);
  return scheme == "s3" || scheme == "s3a" || scheme == "s3n";
}

Result<S3Location> ParseS3Location(std::string_view location) {
  if (!IsS3Location(location)) {
    return MakeError(ErrorKind::kInvalidArgument, "'" + std::string(location) + "' is not an s3://bucket/key location");
  }
  std::string_view rest = location.substr(location.find("://") + 3);
  size_t slash = rest.find('/');
  S3Location out;
  out.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) out.key = std::string(rest.substr(slash + 1));
  if (out.bucket.empty()) {
    return MakeError(ErrorKind::kInvalidArgument, "'" + std::string(location) + "' names no bucket (expected s3://bucket/key)");
  }
  return out;
}

std::chrono::milliseconds S3Backoff(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap) {
  if (attempt < 2) return std::chrono::milliseconds(0);
  int64_t ceiling = base.count();
  for (int i = 2; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, cap.count());
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ceiling, 0))(rng));
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out += text[i];
      continue;
    }
    std::string_view ent = text.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#' && !(ent.size() == 2 && (ent[1] == 'x' || ent[1] == 'X'))) {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      // UTF-8 encode the code point.
      if (cp < 0x80) {
        out += char(cp);
      } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      }
    } else {
      out.append(text.substr(i, semi - i + 1));  // unknown entity: kept as written
    }
    i = semi;
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  std::string open = "<" + std::string(tag);
  std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while (true) {
    size_t start = xml.find(open, pos);
    if (start == std::string_view::npos) break;
    size_t after = start + open.size();
    if (after >= xml.size()) break;
    char next = xml[after];
    if (next != '>' && next != ' ' && next != '/') {  // <Key> must not match <KeyMarker>
      pos = after;
      continue;
    }
    size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) break;
    if (xml[gt - 1] == '/') {  // <Tag/>
      out.push_back(std::string_view());
      pos = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
  return out;
}

std::vector<std::string> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  for (std::string_view b : XmlBlocks(xml, tag)) out.push_back(XmlUnescape(b));
  return out;
}

}  // namespace frazil::io
