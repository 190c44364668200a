#include "jinja_value.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "jinja_builtins.hpp"
#include "unicode.hpp"

namespace llmpi::jinja {

namespace {

[[noreturn]] void type_error(const std::string& message) {
  throw TemplateError(message);
}

void check_string_size(std::size_t bytes) {
  if (bytes > kMaxStringBytes)
    throw TemplateError("the template builds a string of " + std::to_string(bytes) +
                        " bytes, past llmpi's limit of " + std::to_string(kMaxStringBytes));
}

// Python's integers have no limit; llmpi's stop at 64 bits rather than wrap.
[[noreturn]] void overflow() {
  throw TemplateError("integer overflow (past 64 bits)");
}

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}

std::int64_t checked_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

// Python's repr() of a str. Non-ASCII characters are written raw or escaped depending on
// Unicode's printability tables, which llmpi does not carry: it refuses rather than guess.
std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const char ch : s) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x80)
      throw TemplateError(
          "llmpi cannot write non-ASCII text inside a list or dict as Python's repr() does");
    if (ch == quote || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += ch;
    }
  }
  out += quote;
  return out;
}

const char* view_name(ListKind kind) {
  switch (kind) {
    case ListKind::kDictItems:
      return "dict_items";
    case ListKind::kDictKeys:
      return "dict_keys";
    case ListKind::kDictValues:
      return "dict_values";
    default:
      return nullptr;
  }
}

std::string sequence_repr(const ListData& list) {
  if (const char* view = view_name(list.kind)) {
    std::vector<Value> items = list.items;
    return std::string(view) + "(" + repr(Value::list(std::move(items))) + ")";
  }
  if (list.kind == ListKind::kRange) {
    std::string out =
        "range(" + std::to_string(list.range_start) + ", " + std::to_string(list.range_stop);
    if (list.range_step != 1) out += ", " + std::to_string(list.range_step);
    return out + ")";
  }
  const bool tuple = list.kind == ListKind::kTuple;
  std::string out = tuple ? "(" : "[";
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out += ", ";
    out += repr(list.items[i]);
  }
  if (tuple && list.items.size() == 1) out += ",";
  out += tuple ? ")" : "]";
  return out;
}

std::string entries_repr(const std::vector<std::pair<std::string, Value>>& entries) {
  std::string out = "{";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ", ";
    out += string_repr(entries[i].first) + ": " + repr(entries[i].second);
  }
  return out + "}";
}

// A list or a tuple: what +, * and < accept, and what slicing keeps.
bool is_plain_sequence(const ListData& list) {
  return list.kind == ListKind::kList || list.kind == ListKind::kTuple;
}

bool same_plain_sequence_kind(const ListData& a, const ListData& b) {
  return is_plain_sequence(a) && a.kind == b.kind;
}

bool sequences_equal(const ListData& a, const ListData& b) {
  if (view_name(a.kind) != nullptr || view_name(b.kind) != nullptr)
    throw TemplateError("llmpi does not compare dict views (items(), keys(), values())");
  if (a.kind != b.kind || a.items.size() != b.items.size()) return false;
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    if (!equals(a.items[i], b.items[i])) return false;
  }
  return true;
}

bool dicts_equal(const DictData& a, const DictData& b) {
  if (!a.object_name.empty() || !b.object_name.empty()) return &a == &b;
  if (a.entries.size() != b.entries.size()) return false;
  for (const auto& [key, value] : a.entries) {
    const Value* other = b.find(key);
    if (other == nullptr || !equals(value, *other)) return false;
  }
  return true;
}

bool numbers_equal(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) return a.as_integral() == b.as_integral();
  return a.as_double() == b.as_double();
}

[[noreturn]] void unsupported_operands(const char* op, const Value& a, const Value& b) {
  type_error(std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() +
             "' and '" + b.type_name() + "'");
}

// Python's floor division and modulo of ints: rounded toward negative infinity.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  if (b == -1) return checked_sub(0, a);
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  if (b == -1) return 0;
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// CPython's float_divmod, so // and % of floats round exactly as Python does.
std::pair<double, double> float_divmod(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return {floordiv, mod};
}

// Refuses a repetition whose result would pass kMaxStringBytes (bytes or elements).
void check_repetition(std::size_t unit, std::int64_t count) {
  if (unit != 0 && static_cast<std::uint64_t>(count) > kMaxStringBytes / unit)
    check_string_size(kMaxStringBytes + 1);
}

Value repeat(const Value& sequence, std::int64_t count) {
  if (count < 0) count = 0;
  if (sequence.is_string()) {
    const std::string& s = sequence.as_string();
    check_repetition(s.size(), count);
    std::string out;
    for (std::int64_t i = 0; i < count; ++i) out += s;
    return Value::string(std::move(out));
  }
  const ListData& list = sequence.as_list();
  check_repetition(list.items.size(), count);
  std::vector<Value> items;
  for (std::int64_t i = 0; i < count; ++i)
    items.insert(items.end(), list.items.begin(), list.items.end());
  return list.kind == ListKind::kTuple ? Value::tuple(std::move(items))
                                       : Value::list(std::move(items));
}

bool is_repeatable(const Value& v) {
  return v.is_string() || (v.is_list() && is_plain_sequence(v.as_list()));
}

Value add(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    return Value::integer(checked_add(a.as_integral(), b.as_integral()));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_double() + b.as_double());
  if (a.is_string() && b.is_string()) {
    check_string_size(a.as_string().size() + b.as_string().size());
    return Value::string(a.as_string() + b.as_string());
  }
  if (a.is_list() && b.is_list() && same_plain_sequence_kind(a.as_list(), b.as_list())) {
    std::vector<Value> items = a.as_list().items;
    items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
    return a.as_list().kind == ListKind::kTuple ? Value::tuple(std::move(items))
                                                : Value::list(std::move(items));
  }
  unsupported_operands("+", a, b);
}

Value multiply(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    return Value::integer(checked_mul(a.as_integral(), b.as_integral()));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_double() * b.as_double());
  if (is_repeatable(a) && b.is_integral()) return repeat(a, b.as_integral());
  if (a.is_integral() && is_repeatable(b)) return repeat(b, a.as_integral());
  unsupported_operands("*", a, b);
}

Value power(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral() && b.as_integral() >= 0) {
    // Exponentiation by squaring; every square is needed, so none overflows needlessly.
    std::int64_t result = 1;
    std::int64_t base = a.as_integral();
    for (std::int64_t e = b.as_integral(); e > 0; e >>= 1) {
      if ((e & 1) != 0) result = checked_mul(result, base);
      if (e > 1) base = checked_mul(base, base);
    }
    return Value::integer(result);
  }
  if (a.is_number() && b.is_number()) {
    if (a.as_double() == 0.0 && b.as_double() < 0.0)
      type_error("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    const double r = std::pow(a.as_double(), b.as_double());
    if (std::isnan(r) && !std::isnan(a.as_double()) && !std::isnan(b.as_double()))
      type_error("a negative number raised to a fractional power is complex in Python");
    return Value::number(r);
  }
  unsupported_operands("** or pow()", a, b);
}

Value divide(BinaryOp op, const Value& a, const Value& b) {
  const char* symbol = op == BinaryOp::kDiv ? "/" : op == BinaryOp::kFloorDiv ? "//" : "%";
  if (!a.is_number() || !b.is_number()) unsupported_operands(symbol, a, b);
  if (b.as_double() == 0.0)
    type_error(op == BinaryOp::kDiv ? "ZeroDivisionError: division by zero"
                                    : "ZeroDivisionError: integer division or modulo by zero");
  if (op == BinaryOp::kDiv) return Value::number(a.as_double() / b.as_double());
  if (a.is_integral() && b.is_integral()) {
    return Value::integer(op == BinaryOp::kFloorDiv ? floor_div(a.as_integral(), b.as_integral())
                                                    : floor_mod(a.as_integral(), b.as_integral()));
  }
  const auto [quotient, remainder] = float_divmod(a.as_double(), b.as_double());
  return Value::number(op == BinaryOp::kFloorDiv ? quotient : remainder);
}

std::size_t utf8_length(char32_t c) {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

// Python's index normalisation for one element: negative counts from the end.
std::optional<std::size_t> element_index(std::int64_t index, std::size_t size) {
  const auto n = static_cast<std::int64_t>(size);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return std::nullopt;
  return static_cast<std::size_t>(index);
}

Value missing_element(const Value& object, const Value& key) {
  return Value::undefined(object.type_name() + " object has no element " + repr(key));
}

Value missing_attribute(const Value& object, const std::string& name) {
  const std::string what = object.is_none() ? "'None'" : "'" + object.type_name() + " object'";
  return Value::undefined(what + " has no attribute '" + name + "'");
}

std::optional<std::int64_t> slice_bound(const Value& bound) {
  if (bound.is_none()) return std::nullopt;
  if (!bound.is_integral())
    type_error("slice indices must be integers or None, not " + bound.type_name());
  return bound.as_integral();
}

// The positions Python's slice(start, stop, step).indices(size) selects.
std::vector<std::size_t> slice_positions(std::size_t size, const Value& start_value,
                                         const Value& stop_value, const Value& step_value) {
  const std::int64_t step = slice_bound(step_value).value_or(1);
  if (step == 0) type_error("slice step cannot be zero");
  const auto n = static_cast<std::int64_t>(size);
  auto clamp = [&](std::optional<std::int64_t> bound, std::int64_t fallback) {
    if (!bound) return fallback;
    std::int64_t v = *bound;
    if (v < 0) v += n;
    if (step > 0) return std::clamp<std::int64_t>(v, 0, n);
    return std::clamp<std::int64_t>(v, -1, n - 1);
  };
  const std::int64_t start = clamp(slice_bound(start_value), step > 0 ? 0 : n - 1);
  const std::int64_t stop = clamp(slice_bound(stop_value), step > 0 ? n : -1);
  std::vector<std::size_t> positions;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
    positions.push_back(static_cast<std::size_t>(i));
  return positions;
}

}  // namespace

Value Value::list(std::vector<Value> items) {
  return Value(
      ListPtr(std::make_shared<const ListData>(ListData{std::move(items), ListKind::kList})));
}

Value Value::tuple(std::vector<Value> items) {
  return Value(
      ListPtr(std::make_shared<const ListData>(ListData{std::move(items), ListKind::kTuple})));
}

Value Value::range(std::vector<Value> items, std::int64_t start, std::int64_t stop,
                   std::int64_t step) {
  return Value(ListPtr(std::make_shared<const ListData>(
      ListData{std::move(items), ListKind::kRange, start, stop, step})));
}

Value Value::dict(std::vector<std::pair<std::string, Value>> entries) {
  return Value(
      DictPtr(std::make_shared<const DictData>(DictData{std::move(entries), std::string()})));
}

Value Value::object(std::string object_name,
                    std::vector<std::pair<std::string, Value>> attributes) {
  return Value(DictPtr(
      std::make_shared<const DictData>(DictData{std::move(attributes), std::move(object_name)})));
}

Value Value::dict_view(ListKind kind, std::vector<Value> items) {
  return Value(ListPtr(std::make_shared<const ListData>(ListData{std::move(items), kind})));
}

Value Value::namespace_object(std::vector<std::pair<std::string, Value>> attributes) {
  return Value(NamespacePtr(std::make_shared<NamespaceData>(NamespaceData{std::move(attributes)})));
}

Value Value::function(std::string name,
                      std::function<Value(const std::vector<Value>&, const Keywords&)> call) {
  return Value(
      FunctionPtr(std::make_shared<const Function>(Function{std::move(name), std::move(call)})));
}

std::string Value::type_name() const {
  if (is_undefined()) return "Undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "str";
  if (is_list()) {
    if (const char* view = view_name(as_list().kind)) return view;
    if (as_list().kind == ListKind::kTuple) return "tuple";
    return as_list().kind == ListKind::kRange ? "range" : "list";
  }
  if (is_dict()) return as_dict().object_name.empty() ? "dict" : as_dict().object_name;
  if (is_namespace()) return "Namespace";
  return "builtin_function_or_method";
}

const Value* DictData::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

const Value* NamespaceData::find(std::string_view name) const {
  for (const auto& [k, v] : attributes) {
    if (k == name) return &v;
  }
  return nullptr;
}

void NamespaceData::set(const std::string& name, Value value) {
  for (auto& [k, v] : attributes) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  attributes.emplace_back(name, std::move(value));
}

void fail_undefined(const Value& undefined) {
  throw TemplateError(undefined.undefined_reason());
}

bool has_safe_repr(const Value& v) {
  if (v.is_none() || v.is_number() || v.is_string()) return true;
  if (v.is_list()) {
    const ListData& list = v.as_list();
    if (list.kind == ListKind::kRange) return true;
    if (!is_plain_sequence(list)) return false;
    return std::all_of(list.items.begin(), list.items.end(), has_safe_repr);
  }
  if (v.is_dict() && v.as_dict().object_name.empty()) {
    const auto& entries = v.as_dict().entries;
    return std::all_of(entries.begin(), entries.end(),
                       [](const auto& entry) { return has_safe_repr(entry.second); });
  }
  return false;
}

bool hashable(const Value& v) {
  if (v.is_dict()) return !v.as_dict().object_name.empty();
  if (!v.is_list()) return true;
  const ListData& list = v.as_list();
  if (list.kind == ListKind::kTuple)
    return std::all_of(list.items.begin(), list.items.end(), hashable);
  return list.kind == ListKind::kRange || list.kind == ListKind::kDictValues;
}

bool truthy(const Value& v) {
  if (v.is_undefined() || v.is_none()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_int()) return v.as_int() != 0;
  if (v.is_float()) return v.as_float() != 0.0;
  if (v.is_string()) return !v.as_string().empty();
  if (v.is_list()) return !v.as_list().items.empty();
  if (v.is_dict()) return !v.as_dict().entries.empty();
  return true;
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, then Python's layout: positional for exponents -4..15.
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                    std::chars_format::scientific);
  const std::string scientific(buffer.data(), result.ptr);
  const std::size_t e = scientific.find('e');
  const bool negative = scientific[0] == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e; ++i) {
    if (scientific[i] != '.') digits += scientific[i];
  }
  const int exponent = std::stoi(scientific.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int magnitude = exponent < 0 ? -exponent : exponent;
    out += exponent < 0 ? "e-" : "e+";
    if (magnitude < 10) out += "0";
    return out + std::to_string(magnitude);
  }
  if (exponent < 0)
    return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
  if (digits.size() <= integer_digits)
    return out + digits + std::string(integer_digits - digits.size(), '0') + ".0";
  return out + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

std::string to_str(const Value& v) {
  if (v.is_undefined()) return "";
  if (v.is_string()) return v.as_string();
  return repr(v);
}

std::string repr(const Value& v) {
  if (v.is_undefined()) return "Undefined";
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.as_int());
  if (v.is_float()) return float_repr(v.as_float());
  if (v.is_string()) return string_repr(v.as_string());
  if (v.is_list()) return sequence_repr(v.as_list());
  if (v.is_dict()) {
    if (!v.as_dict().object_name.empty())
      throw TemplateError("llmpi does not write a " + v.as_dict().object_name + " as text");
    return entries_repr(v.as_dict().entries);
  }
  if (v.is_namespace()) return "<Namespace " + entries_repr(v.as_namespace().attributes) + ">";
  throw TemplateError("llmpi does not write a function (" + v.as_function().name +
                      ") as text: Python would print its memory address");
}

bool equals(const Value& a, const Value& b) {
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
  if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
  if (a.is_list() && b.is_list()) return sequences_equal(a.as_list(), b.as_list());
  if (a.is_dict() && b.is_dict()) return dicts_equal(a.as_dict(), b.as_dict());
  if (a.is_namespace() && b.is_namespace()) return &a.as_namespace() == &b.as_namespace();
  if (a.is_function() && b.is_function()) return &a.as_function() == &b.as_function();
  return false;
}

bool less(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_integral() < b.as_integral();
    return a.as_double() < b.as_double();
  }
  // UTF-8 byte order is code point order, which is Python's.
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && same_plain_sequence_kind(a.as_list(), b.as_list())) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  type_error("'<' not supported between instances of '" + a.type_name() + "' and '" +
             b.type_name() + "'");
}

Value binary(BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kMod && a.is_string())
    type_error("llmpi does not support printf-style string formatting ('...' % value)");
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  switch (op) {
    case BinaryOp::kAdd:
      return add(a, b);
    case BinaryOp::kSub:
      if (a.is_integral() && b.is_integral()) {
        return Value::integer(checked_sub(a.as_integral(), b.as_integral()));
      }
      if (a.is_number() && b.is_number()) return Value::number(a.as_double() - b.as_double());
      unsupported_operands("-", a, b);
    case BinaryOp::kMul:
      return multiply(a, b);
    case BinaryOp::kPow:
      return power(a, b);
    case BinaryOp::kDiv:
    case BinaryOp::kFloorDiv:
    case BinaryOp::kMod:
      return divide(op, a, b);
  }
  type_error("unknown operator");
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_integral()) {
    return Value::integer(checked_sub(0, v.as_integral()));
  }
  if (v.is_float()) return Value::number(-v.as_float());
  type_error("bad operand type for unary -: '" + v.type_name() + "'");
}

Value positive(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_integral()) return Value::integer(v.as_integral());
  if (v.is_float()) return v;
  type_error("bad operand type for unary +: '" + v.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      type_error("'in <string>' requires string as left operand, not " + item.type_name());
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) {
    if (!hashable(item)) type_error("unhashable type: '" + item.type_name() + "'");
    return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
  }
  if (container.is_list()) {
    const auto& items = container.as_list().items;
    return std::any_of(items.begin(), items.end(),
                       [&](const Value& element) { return equals(element, item); });
  }
  if (container.is_undefined()) return false;
  type_error("argument of type '" + container.type_name() + "' is not iterable");
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) return v.as_list().items;
  std::vector<Value> items;
  if (v.is_dict()) {
    for (const auto& entry : v.as_dict().entries) items.push_back(Value::string(entry.first));
    return items;
  }
  if (v.is_string()) {
    for (const char32_t c : code_points(v.as_string()))
      items.push_back(Value::string(utf8(std::u32string_view(&c, 1))));
    return items;
  }
  type_error("'" + v.type_name() + "' object is not iterable");
}

std::int64_t length(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return static_cast<std::int64_t>(code_points(v.as_string()).size());
  if (v.is_list()) return static_cast<std::int64_t>(v.as_list().items.size());
  if (v.is_dict()) return static_cast<std::int64_t>(v.as_dict().entries.size());
  type_error("object of type '" + v.type_name() + "' has no len()");
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  const bool indexable_list = object.is_list() && view_name(object.as_list().kind) == nullptr;
  if (key.is_integral() && (indexable_list || object.is_string())) {
    if (object.is_list()) {
      const auto& items = object.as_list().items;
      const auto index = element_index(key.as_integral(), items.size());
      return index ? items[*index] : missing_element(object, key);
    }
    const std::u32string text = code_points(object.as_string());
    const auto index = element_index(key.as_integral(), text.size());
    return index ? Value::string(utf8(text.substr(*index, 1))) : missing_element(object, key);
  }
  if (object.is_dict() && key.is_string()) {
    if (const Value* value = object.as_dict().find(key.as_string())) return *value;
  }
  if (key.is_string()) {
    // jinja2 falls back to the attribute of that name (a method, a namespace's attribute).
    if (object.is_namespace()) {
      if (const Value* value = object.as_namespace().find(key.as_string())) return *value;
    }
    if (auto method = bound_method(object, key.as_string())) return *method;
    return missing_attribute(object, key.as_string());
  }
  return missing_element(object, key);
}

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  // Python's attribute first (dict.items beats a key "items"), then the item of that name.
  if (auto method = bound_method(object, name)) return *method;
  if (object.is_namespace()) {
    if (const Value* value = object.as_namespace().find(name)) return *value;
  }
  if (object.is_dict()) {
    if (const Value* value = object.as_dict().find(name)) return *value;
  }
  return missing_attribute(object, name);
}

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_string()) {
    const std::u32string text = code_points(object.as_string());
    std::u32string out;
    for (const std::size_t i : slice_positions(text.size(), start, stop, step)) out += text[i];
    return Value::string(utf8(out));
  }
  if (object.is_list() && object.as_list().kind == ListKind::kRange)
    throw TemplateError("llmpi does not slice a range()");
  if (object.is_list() && is_plain_sequence(object.as_list())) {
    const auto& items = object.as_list().items;
    std::vector<Value> out;
    for (const std::size_t i : slice_positions(items.size(), start, stop, step))
      out.push_back(items[i]);
    return object.as_list().kind == ListKind::kTuple ? Value::tuple(std::move(out))
                                                     : Value::list(std::move(out));
  }
  // jinja2 slices with Python's own [] (not its getitem), so this is Python's TypeError.
  if (object.is_dict()) type_error("unhashable type: 'slice'");
  type_error("'" + object.type_name() + "' object is not subscriptable");
}

std::u32string code_points(std::string_view text) {
  const std::vector<char32_t> decoded = unicode::decode(text);
  return std::u32string(decoded.begin(), decoded.end());
}

std::string utf8(std::u32string_view text) {
  std::string out;
  std::size_t bytes = 0;
  for (const char32_t c : text) bytes += utf8_length(c);
  out.reserve(bytes);
  for (const char32_t c : text) unicode::append_utf8(out, c);
  return out;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

}  // namespace llmpi::jinja
