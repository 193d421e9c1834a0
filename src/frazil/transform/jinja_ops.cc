// Operators with Python's semantics, `in`, and the JSON writer behind |tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja::detail {
namespace {

// Repetition (`'ab' * n`, `[x] * n`) beyond this many elements is refused.
constexpr int64_t kMaxRepeat = 64 * 1024 * 1024;

bool IsNumeric(const Value& v) {
  return v.kind() == Value::Kind::kBool || v.kind() == Value::Kind::kInt ||
         v.kind() == Value::Kind::kDouble;
}

std::unexpected<Error> Unsupported(std::string_view op, const Value& a, const Value& b) {
  return Invalid("unsupported operand type(s) for " + std::string(op) + ": '" + TypeName(a) +
                 "' and '" + TypeName(b) + "'");
}

Result<Value> IntOp(std::string_view op, int64_t a, int64_t b) {
  int64_t r = 0;
  if (op == "+") {
    if (__builtin_add_overflow(a, b, &r)) return Invalid("integer overflow in +");
    return Value(r);
  }
  if (op == "-") {
    if (__builtin_sub_overflow(a, b, &r)) return Invalid("integer overflow in -");
    return Value(r);
  }
  if (op == "*") {
    if (__builtin_mul_overflow(a, b, &r)) return Invalid("integer overflow in *");
    return Value(r);
  }
  if (op == "/") {
    if (b == 0) return Invalid("division by zero");
    return Value(static_cast<double>(a) / static_cast<double>(b));
  }
  if (op == "//" || op == "%") {
    if (b == 0) return Invalid(op == "//" ? "integer division by zero" : "integer modulo by zero");
    if (a == std::numeric_limits<int64_t>::min() && b == -1) {
      if (op == "%") return Value(int64_t{0});
      return Invalid("integer overflow in //");
    }
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) {  // Python floors; C++ truncates
      --q;
      m += b;
    }
    return Value(op == "//" ? q : m);
  }
  if (op == "**") {
    if (b < 0) {
      if (a == 0) return Invalid("0.0 cannot be raised to a negative power");
      return Value(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
    int64_t result = 1, base = a;
    while (b > 0) {
      if (b & 1) {
        if (__builtin_mul_overflow(result, base, &result)) return Invalid("integer overflow in **");
      }
      b >>= 1;
      if (b > 0 && __builtin_mul_overflow(base, base, &base))
        return Invalid("integer overflow in **");
    }
    return Value(result);
  }
  return Invalid("unknown operator " + std::string(op));
}

Result<Value> DoubleOp(std::string_view op, double a, double b) {
  if (op == "+") return Value(a + b);
  if (op == "-") return Value(a - b);
  if (op == "*") return Value(a * b);
  if (op == "/") {
    if (b == 0) return Invalid("float division by zero");
    return Value(a / b);
  }
  if (op == "//" || op == "%") {
    if (b == 0) return Invalid(op == "//" ? "float floor division by zero" : "float modulo");
    // CPython's float_divmod.
    double m = std::fmod(a, b);
    double div = (a - m) / b;
    if (m != 0) {
      if ((b < 0) != (m < 0)) {
        m += b;
        div -= 1.0;
      }
    } else {
      m = std::copysign(0.0, b);
    }
    if (op == "%") return Value(m);
    double floordiv = std::copysign(0.0, a / b);
    if (div != 0) {
      floordiv = std::floor(div);
      if (div - floordiv > 0.5) floordiv += 1.0;
    }
    return Value(floordiv);
  }
  if (op == "**") {
    if (a == 0 && b < 0) return Invalid("0.0 cannot be raised to a negative power");
    return Value(std::pow(a, b));
  }
  return Invalid("unknown operator " + std::string(op));
}

Result<Value> Repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.kind() == Value::Kind::kString) {
    const std::string& s = seq.AsString();
    if (!s.empty() && n > kMaxRepeat / static_cast<int64_t>(s.size())) {
      return Invalid("string repetition too large");
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.AsList();
  if (!items.empty() && n > kMaxRepeat / static_cast<int64_t>(items.size())) {
    return Invalid("list repetition too large");
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.IsTuple() ? ValueAccess::Tuple(std::move(out)) : Value::List(std::move(out));
}

void AppendJsonString(std::string_view s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0x80) {
      // Decode one UTF-8 sequence; an invalid byte is written as its own code point.
      len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
      bool ok = len > 1 && i + len <= s.size();
      for (size_t k = 1; ok && k < len; ++k)
        ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      if (ok) {
        cp = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (size_t k = 1; k < len; ++k)
          cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      } else {
        len = 1;
      }
    }
    i += len;
    char buf[16];
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '<':
      case '>':
      case '&':
      case '\'':  // Jinja's tojson makes the JSON HTML-safe
        break;
      default:
        if (cp >= 0x20 && cp < 0x7f) {
          out += static_cast<char>(cp);
          continue;
        }
    }
    if (cp >= 0x10000) {
      uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    }
    out += buf;
  }
  out += '"';
}

Status AppendJson(const Value& v, int indent, int level, std::vector<const void*>& stack,
                  std::string& out) {
  auto newline = [&](int lvl) {
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  const char* item_sep = indent >= 0 ? "," : ", ";
  switch (v.kind()) {
    case Value::Kind::kNone:
      out += "null";
      return Ok();
    case Value::Kind::kBool:
      out += v.AsBool() ? "true" : "false";
      return Ok();
    case Value::Kind::kInt:
      out += std::to_string(v.AsInt());
      return Ok();
    case Value::Kind::kDouble: {
      double d = v.AsDouble();
      out += std::isnan(d)   ? "NaN"
             : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity")
                             : FormatDouble(d);
      return Ok();
    }
    case Value::Kind::kString:
      AppendJsonString(v.AsString(), out);
      return Ok();
    case Value::Kind::kList: {
      const void* id = ValueAccess::List(v);
      if (std::find(stack.begin(), stack.end(), id) != stack.end())
        return Invalid("circular reference detected");
      const auto& items = v.AsList();
      if (items.empty()) {
        out += "[]";
        return Ok();
      }
      stack.push_back(id);
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += item_sep;
        if (indent >= 0) newline(level + 1);
        FRZ_RETURN_IF_ERROR(AppendJson(items[i], indent, level + 1, stack, out));
      }
      if (indent >= 0) newline(level);
      out += ']';
      stack.pop_back();
      return Ok();
    }
    case Value::Kind::kDict: {
      if (v.IsObject())
        return Invalid("Object of type " + TypeName(v) + " is not JSON serializable");
      const void* id = ValueAccess::Dict(v);
      if (std::find(stack.begin(), stack.end(), id) != stack.end())
        return Invalid("circular reference detected");
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : v.AsDict()) items.push_back(&item);
      if (items.empty()) {
        out += "{}";
        return Ok();
      }
      std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      stack.push_back(id);
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += item_sep;
        if (indent >= 0) newline(level + 1);
        AppendJsonString(items[i]->first, out);
        out += ": ";
        FRZ_RETURN_IF_ERROR(AppendJson(items[i]->second, indent, level + 1, stack, out));
      }
      if (indent >= 0) newline(level);
      out += '}';
      stack.pop_back();
      return Ok();
    }
    case Value::Kind::kUndefined:
      return Invalid(v.UndefinedMessage());
    case Value::Kind::kCallable:
      break;
  }
  return Invalid("Object of type " + TypeName(v) + " is not JSON serializable");
}

}  // namespace

Result<Value> BinaryOp(std::string_view op, const Value& a, const Value& b) {
  if (op == "~") return Value(a.ToString() + b.ToString());
  if (IsNumeric(a) && IsNumeric(b)) {
    if (a.kind() != Value::Kind::kDouble && b.kind() != Value::Kind::kDouble) {
      return IntOp(op, a.AsInt(), b.AsInt());
    }
    return DoubleOp(op, a.AsDouble(), b.AsDouble());
  }
  using K = Value::Kind;
  if (op == "+") {
    if (a.kind() == K::kString && b.kind() == K::kString) return Value(a.AsString() + b.AsString());
    if (a.kind() == K::kList && b.kind() == K::kList && a.IsTuple() == b.IsTuple()) {
      std::vector<Value> items = a.AsList();
      items.insert(items.end(), b.AsList().begin(), b.AsList().end());
      return a.IsTuple() ? ValueAccess::Tuple(std::move(items)) : Value::List(std::move(items));
    }
  }
  if (op == "*") {
    bool a_seq = a.kind() == K::kString || a.kind() == K::kList;
    bool b_seq = b.kind() == K::kString || b.kind() == K::kList;
    bool a_int = a.kind() == K::kInt || a.kind() == K::kBool;
    bool b_int = b.kind() == K::kInt || b.kind() == K::kBool;
    if (a_seq && b_int) return Repeat(a, b.AsInt());
    if (b_seq && a_int) return Repeat(b, a.AsInt());
  }
  return Unsupported(op, a, b);
}

Result<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (item.kind() != Value::Kind::kString) {
        return Invalid("'in <string>' requires string as left operand, not " + TypeName(item));
      }
      return container.AsString().find(item.AsString()) != std::string::npos;
    case Value::Kind::kList:
      return std::any_of(container.AsList().begin(), container.AsList().end(),
                         [&](const Value& x) { return x == item; });
    case Value::Kind::kDict:
      if (!container.IsObject() || ValueAccess::Dict(container)->flavor == DictFlavor::kObject) {
        return item.kind() == Value::Kind::kString &&
               ValueAccess::Dict(container)->Find(item.AsString()) != nullptr;
      }
      break;
    default:
      break;
  }
  return Invalid("argument of type '" + TypeName(container) + "' is not iterable");
}

Result<std::string> ToJson(const Value& v, int indent) {
  std::string out;
  std::vector<const void*> stack;
  FRZ_RETURN_IF_ERROR(AppendJson(v, indent, 0, stack, out));
  return out;
}

}  // namespace frazil::transform::jinja::detail
