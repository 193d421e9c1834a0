// Value: construction, accessors, Python-like rendering, equality and ordering.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "frazil/base/strings.h"
#include "frazil/transform/jinja.h"
#include "frazil/transform/jinja_internal.h"

namespace frazil::transform::jinja {

using detail::CallableData;
using detail::DictData;
using detail::DictFlavor;
using detail::ListData;
using detail::ValueAccess;

const Value* CallArgs::Kwarg(std::string_view name) const {
  for (const auto& [k, v] : kwargs) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value::Value() : kind_(Kind::kUndefined), payload_(std::string()) {}
Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  v.payload_ = std::monostate();
  return v;
}
Value Value::Undefined(std::string what) {
  Value v;
  v.payload_ = std::move(what);
  return v;
}
Value::Value(bool b) : kind_(Kind::kBool), payload_(b) {}
Value::Value(int64_t i) : kind_(Kind::kInt), payload_(i) {}
Value::Value(int i) : kind_(Kind::kInt), payload_(static_cast<int64_t>(i)) {}
Value::Value(double d) : kind_(Kind::kDouble), payload_(d) {}
Value::Value(std::string s) : kind_(Kind::kString), payload_(std::move(s)) {}
Value::Value(std::string_view s) : kind_(Kind::kString), payload_(std::string(s)) {}
Value::Value(const char* s) : kind_(Kind::kString), payload_(std::string(s)) {}

Value Value::List(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kList;
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  v.payload_ = std::move(data);
  return v;
}

Value Value::Dict(std::vector<std::pair<std::string, Value>> items) {
  auto data = std::make_shared<DictData>();
  for (auto& [k, v] : items) data->Set(std::move(k), std::move(v));
  return ValueAccess::FromDictData(std::move(data));
}

Value Value::Callable(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  auto data = std::make_shared<CallableData>();
  data->name = std::move(name);
  data->fn = std::move(fn);
  v.payload_ = std::move(data);
  return v;
}

Value Value::Object(std::vector<std::pair<std::string, Value>> attributes, std::string display) {
  auto data = std::make_shared<DictData>();
  for (auto& [k, v] : attributes) data->Set(std::move(k), std::move(v));
  data->flavor = DictFlavor::kObject;
  data->display = std::move(display);
  return ValueAccess::FromDictData(std::move(data));
}

bool Value::IsObject() const {
  const DictData* d = ValueAccess::Dict(*this);
  return d != nullptr && d->flavor != DictFlavor::kDict;
}

bool Value::IsTuple() const {
  const ListData* l = ValueAccess::List(*this);
  return l != nullptr && l->is_tuple;
}

bool Value::IsTruthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return std::get<bool>(payload_);
    case Kind::kInt:
      return std::get<int64_t>(payload_) != 0;
    case Kind::kDouble:
      return std::get<double>(payload_) != 0.0;
    case Kind::kString:
      return !std::get<std::string>(payload_).empty();
    case Kind::kList:
      return !ValueAccess::List(*this)->items.empty();
    case Kind::kDict: {
      const DictData* d = ValueAccess::Dict(*this);
      return d->flavor != DictFlavor::kDict || !d->items.empty();
    }
    case Kind::kCallable:
      return true;
  }
  return false;
}

namespace {

// Renders v into out. `stack` holds the containers being rendered, so that a list holding
// itself renders as [...] (as Python does) instead of recursing forever.
void AppendRepr(const Value& v, bool quote_strings, std::vector<const void*>& stack,
                std::string& out) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      if (quote_strings) out += "Undefined";  // inside a container, as Python's repr shows it
      return;
    case Value::Kind::kNone:
      out += "None";
      return;
    case Value::Kind::kBool:
      out += v.AsBool() ? "True" : "False";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.AsInt());
      return;
    case Value::Kind::kDouble:
      out += detail::FormatDouble(v.AsDouble());
      return;
    case Value::Kind::kString:
      out += quote_strings ? detail::ReprString(v.AsString()) : v.AsString();
      return;
    case Value::Kind::kCallable: {
      const CallableData* c = ValueAccess::Callable(v);
      out += c->macro ? "<Macro '" : "<function ";
      out += c->name;
      out += c->macro ? "'>" : ">";
      return;
    }
    case Value::Kind::kList: {
      const ListData* l = ValueAccess::List(v);
      const char* open = l->is_tuple ? "(" : "[";
      const char* close = l->is_tuple ? ")" : "]";
      if (std::find(stack.begin(), stack.end(), l) != stack.end()) {
        out += open;
        out += "...";
        out += close;
        return;
      }
      stack.push_back(l);
      out += open;
      for (size_t i = 0; i < l->items.size(); ++i) {
        if (i > 0) out += ", ";
        AppendRepr(l->items[i], true, stack, out);
      }
      if (l->is_tuple && l->items.size() == 1) out += ",";
      out += close;
      stack.pop_back();
      return;
    }
    case Value::Kind::kDict: {
      const DictData* d = ValueAccess::Dict(v);
      if (d->flavor == DictFlavor::kObject) {
        out += d->display;
        return;
      }
      if (std::find(stack.begin(), stack.end(), d) != stack.end()) {
        out += "{...}";
        return;
      }
      stack.push_back(d);
      if (d->flavor == DictFlavor::kNamespace) out += "<Namespace ";
      out += "{";
      for (size_t i = 0; i < d->items.size(); ++i) {
        if (i > 0) out += ", ";
        out += detail::ReprString(d->items[i].first);
        out += ": ";
        AppendRepr(d->items[i].second, true, stack, out);
      }
      out += "}";
      if (d->flavor == DictFlavor::kNamespace) out += ">";
      stack.pop_back();
      return;
    }
  }
}

// Deep equality; depth-limited so that self-containing lists end instead of recursing.
bool Equal(const Value& a, const Value& b, int depth) {
  using K = Value::Kind;
  if (depth > 100) return false;
  auto numeric = [](K k) { return k == K::kBool || k == K::kInt || k == K::kDouble; };
  if (numeric(a.kind()) && numeric(b.kind())) {
    if (a.kind() == K::kDouble || b.kind() == K::kDouble) return a.AsDouble() == b.AsDouble();
    return a.AsInt() == b.AsInt();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone:
      return true;
    case K::kString:
      return a.AsString() == b.AsString();
    case K::kList: {
      const ListData* x = ValueAccess::List(a);
      const ListData* y = ValueAccess::List(b);
      if (x == y) return true;
      if (x->is_tuple != y->is_tuple || x->items.size() != y->items.size()) return false;
      for (size_t i = 0; i < x->items.size(); ++i) {
        if (!Equal(x->items[i], y->items[i], depth + 1)) return false;
      }
      return true;
    }
    case K::kDict: {
      const DictData* x = ValueAccess::Dict(a);
      const DictData* y = ValueAccess::Dict(b);
      if (x == y) return true;
      if (x->flavor != DictFlavor::kDict || y->flavor != DictFlavor::kDict) return false;
      if (x->items.size() != y->items.size()) return false;
      for (const auto& [k, v] : x->items) {
        const Value* other = y->Find(k);
        if (other == nullptr || !Equal(v, *other, depth + 1)) return false;
      }
      return true;
    }
    case K::kCallable:
      return ValueAccess::Callable(a) == ValueAccess::Callable(b);
    default:
      return false;
  }
}

Result<int> Compare(const Value& a, const Value& b, std::string_view op, int depth) {
  using K = Value::Kind;
  auto numeric = [](K k) { return k == K::kBool || k == K::kInt || k == K::kDouble; };
  if (numeric(a.kind()) && numeric(b.kind())) {
    if (a.kind() == K::kDouble || b.kind() == K::kDouble) {
      double x = a.AsDouble(), y = b.AsDouble();
      return x < y ? -1 : (x > y ? 1 : 0);  // NaN compares as equal-ish: neither < nor >
    }
    int64_t x = a.AsInt(), y = b.AsInt();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.kind() == K::kString && b.kind() == K::kString) {
    // Byte order of UTF-8 is code point order, which is Python's string order.
    int c = a.AsString().compare(b.AsString());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == K::kList && b.kind() == K::kList && a.IsTuple() == b.IsTuple() && depth < 100) {
    const auto& x = a.AsList();
    const auto& y = b.AsList();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equal(x[i], y[i], 0)) continue;
      return Compare(x[i], y[i], op, depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return MakeError(ErrorKind::kInvalidArgument,
                   "'" + std::string(op) + "' not supported between instances of '" +
                       detail::TypeName(a) + "' and '" + detail::TypeName(b) + "'");
}

}  // namespace

std::string Value::ToString() const {
  std::string out;
  std::vector<const void*> stack;
  AppendRepr(*this, false, stack, out);
  return out;
}

std::string Value::Repr() const {
  std::string out;
  std::vector<const void*> stack;
  AppendRepr(*this, true, stack, out);
  return out;
}

std::string Value::UndefinedMessage() const {
  if (kind_ != Kind::kUndefined) return "";
  const std::string& what = std::get<std::string>(payload_);
  return what.empty() ? "value is undefined" : what;
}

bool Value::AsBool() const { return kind_ == Kind::kBool && std::get<bool>(payload_); }

int64_t Value::AsInt() const {
  if (kind_ == Kind::kInt) return std::get<int64_t>(payload_);
  if (kind_ == Kind::kBool) return std::get<bool>(payload_) ? 1 : 0;
  return 0;
}

double Value::AsDouble() const {
  if (kind_ == Kind::kDouble) return std::get<double>(payload_);
  if (kind_ == Kind::kInt || kind_ == Kind::kBool) return static_cast<double>(AsInt());
  return 0;
}

const std::string& Value::AsString() const {
  static const std::string kEmpty;
  return kind_ == Kind::kString ? std::get<std::string>(payload_) : kEmpty;
}

const std::vector<Value>& Value::AsList() const {
  static const std::vector<Value> kEmpty;
  const ListData* l = ValueAccess::List(*this);
  return l != nullptr ? l->items : kEmpty;
}

const std::vector<std::pair<std::string, Value>>& Value::AsDict() const {
  static const std::vector<std::pair<std::string, Value>> kEmpty;
  const DictData* d = ValueAccess::Dict(*this);
  return d != nullptr ? d->items : kEmpty;
}

Value Value::Get(std::string_view key) const {
  const DictData* d = ValueAccess::Dict(*this);
  if (d == nullptr) return Value();
  const Value* v = d->Find(key);
  return v != nullptr ? *v : Value();
}

const std::string& Value::CallableName() const {
  static const std::string kEmpty;
  const CallableData* c = ValueAccess::Callable(*this);
  return c != nullptr ? c->name : kEmpty;
}

Result<Value> Value::Call(const CallArgs& args) const {
  const CallableData* c = ValueAccess::Callable(*this);
  if (c == nullptr) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "'" + detail::TypeName(*this) + "' object is not callable");
  }
  if (c->macro) return detail::CallMacroDetached(*c->macro, args);
  if (c->special == detail::Special::kReturn) {
    return MakeError(ErrorKind::kInvalidArgument, "return() called outside of a macro");
  }
  return c->fn(args);
}

bool operator==(const Value& a, const Value& b) { return Equal(a, b, 0); }

namespace detail {

const Value* DictData::Find(std::string_view key) const {
  auto it = index.find(std::string(key));
  return it == index.end() ? nullptr : &items[it->second].second;
}

void DictData::Set(std::string key, Value v) {
  auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, items.size());
  items.emplace_back(std::move(key), std::move(v));
}

bool DictData::Erase(std::string_view key) {
  auto it = index.find(std::string(key));
  if (it == index.end()) return false;
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(it->second));
  index.clear();
  for (size_t i = 0; i < items.size(); ++i) index.emplace(items[i].first, i);
  return true;
}

ListData* ValueAccess::List(const Value& v) {
  if (v.kind_ != Value::Kind::kList) return nullptr;
  return std::get<std::shared_ptr<ListData>>(v.payload_).get();
}

DictData* ValueAccess::Dict(const Value& v) {
  if (v.kind_ != Value::Kind::kDict) return nullptr;
  return std::get<std::shared_ptr<DictData>>(v.payload_).get();
}

CallableData* ValueAccess::Callable(const Value& v) {
  if (v.kind_ != Value::Kind::kCallable) return nullptr;
  return std::get<std::shared_ptr<CallableData>>(v.payload_).get();
}

Value ValueAccess::Tuple(std::vector<Value> items) {
  Value v = Value::List(std::move(items));
  List(v)->is_tuple = true;
  return v;
}

Value ValueAccess::Namespace(std::vector<std::pair<std::string, Value>> attributes) {
  auto data = std::make_shared<DictData>();
  for (auto& [k, v] : attributes) data->Set(std::move(k), std::move(v));
  data->flavor = DictFlavor::kNamespace;
  return FromDictData(std::move(data));
}

Value ValueAccess::FromDictData(std::shared_ptr<DictData> d) {
  Value v;
  v.kind_ = Value::Kind::kDict;
  v.payload_ = std::move(d);
  return v;
}

Value ValueAccess::Macro(std::string name, std::shared_ptr<const MacroRef> macro) {
  Value v = Value::Callable(std::move(name), nullptr);
  Callable(v)->macro = std::move(macro);
  return v;
}

Value ValueAccess::SpecialCallable(std::string name, Special special) {
  Value v = Value::Callable(std::move(name), nullptr);
  Callable(v)->special = special;
  return v;
}

bool ValueAccess::HasMessage(const Value& v) {
  return v.kind_ != Value::Kind::kUndefined || !std::get<std::string>(v.payload_).empty();
}

Value ValueAccess::LenientUndefined(std::string what) {
  Value v = Value::Undefined(std::move(what));
  v.lenient_ = true;
  return v;
}

bool ValueAccess::IsLenient(const Value& v) {
  return v.kind_ == Value::Kind::kUndefined && v.lenient_;
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kDouble:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return v.IsTuple() ? "tuple" : "list";
    case Value::Kind::kDict: {
      DictFlavor f = ValueAccess::Dict(v)->flavor;
      return f == DictFlavor::kDict ? "dict"
                                    : (f == DictFlavor::kNamespace ? "Namespace" : "object");
    }
    case Value::Kind::kCallable:
      return ValueAccess::Callable(v)->macro ? "Macro" : "function";
  }
  return "object";
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  // The shortest digits that round-trip, laid out the way Python's repr() does: positional
  // for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  if (ec != std::errc()) return "nan";
  std::string_view s(buf, static_cast<size_t>(end - buf));
  std::string out;
  if (!s.empty() && s[0] == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::string_view exp_text = s.substr(e + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  int n = static_cast<int>(digits.size());
  if (exp >= -4 && exp < 16) {
    int point = exp + 1;  // digits before the decimal point
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-point), '0');
      out += digits;
    } else if (point >= n) {
      out += digits;
      out.append(static_cast<size_t>(point - n), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(point));
      out += '.';
      out += digits.substr(static_cast<size_t>(point));
    }
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  out += ebuf;
  return out;
}

std::string ReprString(std::string_view s) {
  char quote = '\'';
  if (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) {
    quote = '"';
  }
  std::string out(1, quote);
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

Result<int> CompareValues(const Value& a, const Value& b, std::string_view op) {
  return Compare(a, b, op, 0);
}

namespace {
// Length of the UTF-8 sequence starting at s[i], or 1 for an invalid byte.
size_t Utf8SeqLen(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
  if (i + len > s.size()) return 1;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 1;
  }
  return len;
}
}  // namespace

std::vector<std::string> Utf8Chars(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t len = Utf8SeqLen(s, i);
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += Utf8SeqLen(s, i)) ++n;
  return n;
}

std::string AsciiLower(std::string_view s) { return frazil::AsciiLower(s); }

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace detail
}  // namespace frazil::transform::jinja
