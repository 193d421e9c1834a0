// The lexer: template text, {{ }}, {% %} and {# #} with Jinja's whitespace control
// (trim_blocks and lstrip_blocks off, as in dbt), {% raw %} and expression tokens.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja::detail {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

std::string_view LStrip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view RStrip(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Jinja turns \r\n and \r in template text into \n.
std::string NormalizeNewlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(std::string_view src, const std::string& name) : src_(src), name_(name) {}

  Result<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      size_t start = FindTagStart(pos_);
      if (start == std::string_view::npos) {
        EmitData(src_.substr(pos_), false);
        Advance(src_.size());
        break;
      }
      char kind = src_[start + 1];
      bool strip_before = start + 2 < src_.size() && src_[start + 2] == '-';
      EmitData(src_.substr(pos_, start - pos_), strip_before);
      Advance(start);
      Status st = kind == '#' ? LexComment() : (IsRawBegin(start) ? LexRaw() : LexTag(kind));
      FRZ_RETURN_IF_ERROR(st);
    }
    tokens_.push_back(Token{Tok::kEof, line_, ""});
    return std::move(tokens_);
  }

 private:
  std::unexpected<Error> Fail(int line, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, name_ + ":" + std::to_string(line) + ": " + what);
  }

  // Moves to `p`, counting the lines passed.
  void Advance(size_t p) {
    line_ += static_cast<int>(std::count(src_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                         src_.begin() + static_cast<std::ptrdiff_t>(p), '\n'));
    pos_ = p;
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string_view::npos;
  }

  // Template text before a tag: the previous tag's `-%}` strips its start, this tag's `{%-`
  // its end.
  void EmitData(std::string_view data, bool strip_end) {
    if (lstrip_next_) data = LStrip(data);
    if (strip_end) data = RStrip(data);
    lstrip_next_ = false;
    if (!data.empty()) tokens_.push_back(Token{Tok::kData, line_, NormalizeNewlines(data)});
  }

  Status LexComment() {
    int start_line = line_;
    size_t end = src_.find("#}", pos_ + 2);
    if (end == std::string_view::npos) return Fail(start_line, "unterminated comment");
    size_t body = pos_ + 2;
    if (body < src_.size() && (src_[body] == '-' || src_[body] == '+')) ++body;  // {#- is not -#}
    lstrip_next_ = end > body && src_[end - 1] == '-';
    Advance(end + 2);
    return Ok();
  }

  // Matches `{%[-+]? raw [-]?%}` (or endraw) at `at`; returns the position after it and whether
  // it ends with -%}.
  bool MatchRawTag(size_t at, std::string_view word, size_t* after, bool* strip_after) const {
    if (src_.compare(at, 2, "{%") != 0) return false;
    size_t i = at + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && IsSpace(src_[i])) ++i;
    if (src_.compare(i, word.size(), word) != 0) return false;
    i += word.size();
    if (i < src_.size() && IsNameChar(src_[i])) return false;
    while (i < src_.size() && IsSpace(src_[i])) ++i;
    *strip_after = i < src_.size() && src_[i] == '-';
    if (*strip_after) ++i;
    if (src_.compare(i, 2, "%}") != 0) return false;
    *after = i + 2;
    return true;
  }

  bool IsRawBegin(size_t at) const {
    size_t after;
    bool strip;
    return MatchRawTag(at, "raw", &after, &strip);
  }

  Status LexRaw() {
    int start_line = line_;
    size_t content_start;
    bool strip_content_start;
    MatchRawTag(pos_, "raw", &content_start, &strip_content_start);
    for (size_t i = src_.find("{%", content_start); i != std::string_view::npos;
         i = src_.find("{%", i + 1)) {
      size_t after;
      bool strip_after;
      if (!MatchRawTag(i, "endraw", &after, &strip_after)) continue;
      Advance(content_start);
      std::string_view content = src_.substr(content_start, i - content_start);
      if (strip_content_start) content = LStrip(content);
      if (i + 2 < src_.size() && src_[i + 2] == '-') content = RStrip(content);
      if (!content.empty()) {
        tokens_.push_back(Token{Tok::kData, line_, NormalizeNewlines(content)});
      }
      Advance(after);
      lstrip_next_ = strip_after;
      return Ok();
    }
    return Fail(start_line, "missing end of raw directive ({% endraw %})");
  }

  Status LexTag(char kind) {
    int start_line = line_;
    tokens_.push_back(Token{kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, line_, ""});
    size_t p = pos_ + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    Advance(p);
    std::string balance;  // the closing brackets expected, innermost last
    const char close = kind == '{' ? '}' : '%';
    while (true) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) Advance(pos_ + 1);
      if (pos_ >= src_.size()) {
        return Fail(start_line, kind == '{' ? "unexpected end of template, expected '}}'"
                                            : "unexpected end of template, expected '%}'");
      }
      if (balance.empty()) {
        bool dash = src_[pos_] == '-' || (kind == '%' && src_[pos_] == '+');
        size_t at = pos_ + (dash ? 1 : 0);
        if (at + 1 < src_.size() && src_[at] == close && src_[at + 1] == '}') {
          tokens_.push_back(Token{kind == '{' ? Tok::kVarEnd : Tok::kBlockEnd, line_, ""});
          lstrip_next_ = dash && src_[pos_] == '-';
          Advance(at + 2);
          return Ok();
        }
      }
      char c = src_[pos_];
      if (IsNameStart(c)) {
        size_t e = pos_;
        while (e < src_.size() && IsNameChar(src_[e])) ++e;
        tokens_.push_back(Token{Tok::kName, line_, std::string(src_.substr(pos_, e - pos_))});
        Advance(e);
      } else if (IsDigit(c)) {
        FRZ_RETURN_IF_ERROR(LexNumber());
      } else if (c == '\'' || c == '"') {
        FRZ_RETURN_IF_ERROR(LexString());
      } else {
        FRZ_RETURN_IF_ERROR(LexOperator(balance));
      }
    }
  }

  Status LexOperator(std::string& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    std::string_view rest = src_.substr(pos_);
    for (std::string_view op : kTwo) {
      if (rest.starts_with(op)) {
        tokens_.push_back(Token{Tok::kOp, line_, std::string(op)});
        Advance(pos_ + 2);
        return Ok();
      }
    }
    char c = src_[pos_];
    if (std::string_view("+-*/%~()[]{},.:|=<>").find(c) == std::string_view::npos) {
      return Fail(line_, std::string("unexpected char '") + c + "'");
    }
    if (c == '(') balance += ')';
    if (c == '[') balance += ']';
    if (c == '{') balance += '}';
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) return Fail(line_, std::string("unexpected '") + c + "'");
      if (balance.back() != c) {
        return Fail(line_,
                    std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      }
      balance.pop_back();
    }
    tokens_.push_back(Token{Tok::kOp, line_, std::string(1, c)});
    Advance(pos_ + 1);
    return Ok();
  }

  // Digits with optional underscores between them, from `i`; returns the end.
  size_t ScanDigits(size_t i, int base) const {
    auto is_digit = [base](char c) {
      int d = HexDigit(c);
      return d >= 0 && d < base;
    };
    while (i < src_.size() && (is_digit(src_[i]) ||
                               (src_[i] == '_' && i + 1 < src_.size() && is_digit(src_[i + 1])))) {
      ++i;
    }
    return i;
  }

  Status LexNumber() {
    size_t start = pos_;
    std::string text;
    auto strip = [](std::string_view s) {
      std::string out;
      for (char ch : s) {
        if (ch != '_') out += ch;
      }
      return out;
    };
    Token tok{Tok::kInt, line_, ""};
    int base = 10;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size()) {
      char p = static_cast<char>(src_[pos_ + 1] | 0x20);
      base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 10;
      // 0x1F, 0o17, 0b101, 0x_1F; but `0or 1` is 0 or 1.
      size_t d = pos_ + 2;
      if (d < src_.size() && src_[d] == '_') ++d;
      int digit = d < src_.size() ? HexDigit(src_[d]) : -1;
      if (digit < 0 || digit >= base) base = 10;
    }
    size_t end;
    if (base != 10) {
      end = ScanDigits(pos_ + 2, base);
      text = strip(src_.substr(pos_ + 2, end - pos_ - 2));
      if (text.empty()) return Fail(line_, "invalid number literal");
    } else {
      end = ScanDigits(pos_, 10);
      // `x.0.1` is x[0][1]: after a dot, a number is an index, never a float.
      bool after_dot = start > 0 && src_[start - 1] == '.';
      if (!after_dot && end + 1 < src_.size() && src_[end] == '.' && IsDigit(src_[end + 1])) {
        end = ScanDigits(end + 1, 10);
        tok.type = Tok::kFloat;
      }
      if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
        size_t e = end + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
        if (e < src_.size() && IsDigit(src_[e])) {
          end = ScanDigits(e, 10);
          tok.type = Tok::kFloat;
        }
      }
      text = strip(src_.substr(pos_, end - pos_));
      // As in Python, a decimal integer has no leading zeros (01 is not 1).
      if (tok.type == Tok::kInt && text.size() > 1 && text[0] == '0' &&
          text.find_first_not_of('0') != std::string::npos) {
        return Fail(line_, "invalid number literal " + std::string(src_.substr(pos_, end - pos_)) +
                               " (leading zeros)");
      }
    }
    if (tok.type == Tok::kFloat) {
      tok.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), tok.int_value, base);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        return Fail(line_,
                    "integer literal out of range: " + std::string(src_.substr(pos_, end - pos_)));
      }
    }
    tok.text = std::string(src_.substr(pos_, end - pos_));
    tokens_.push_back(std::move(tok));
    Advance(end);
    return Ok();
  }

  // A quoted string with Python's escapes; an unknown escape keeps its backslash ('\d').
  Status LexString() {
    int start_line = line_;
    char quote = src_[pos_];
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) return Fail(start_line, "unterminated string");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return Fail(start_line, "unterminated string");
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            int d = i + k < src_.size() ? HexDigit(src_[i + k]) : -1;
            if (d < 0) return Fail(line_, std::string("truncated \\") + e + " escape in string");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          if (cp > 0x10ffff) return Fail(line_, "invalid \\U escape in string");
          AppendUtf8(cp, value);
          i += n;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            }
            AppendUtf8(cp, value);
          } else {
            value += '\\';
            value += e;
          }
      }
    }
    tokens_.push_back(Token{Tok::kString, line_, std::move(value)});
    Advance(i + 1);
    return Ok();
  }

  std::string_view src_;
  const std::string& name_;
  size_t pos_ = 0;
  int line_ = 1;
  bool lstrip_next_ = false;
  std::vector<Token> tokens_;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view source, const std::string& name) {
  return Lexer(source, name).Run();
}

}  // namespace frazil::transform::jinja::detail
