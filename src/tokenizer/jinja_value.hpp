#pragma once

// The values a chat template computes with, and the Python semantics jinja2 gives them
// (str(), repr(), ==, <, +, in, len, indexing, slicing), so that llmpi renders a template
// exactly as transformers' apply_chat_template does. Private to src/tokenizer/.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace llmpi::jinja {

// An error while rendering, without its place in the template: the renderer adds that.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The template's own raise_exception(message).
class RaisedError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

// Python's sequences: list, tuple, range() and the views dict.items()/keys()/values() return.
// They differ in repr, equality, indexing and what + accepts.
enum class ListKind { kList, kTuple, kRange, kDictItems, kDictKeys, kDictValues };

class Value;
struct ListData;
struct DictData;
struct NamespaceData;
struct Function;

// jinja2's default Undefined: renders as "", is falsy and iterates as empty, but most other
// uses fail with `reason` ("'x' is undefined").
struct Undefined {
  std::string reason;
};
struct None {};

using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using NamespacePtr = std::shared_ptr<NamespaceData>;
using FunctionPtr = std::shared_ptr<const Function>;

class Value {
 public:
  Value() : storage_(Undefined{"value is undefined"}) {}

  static Value undefined(std::string reason) { return Value(Undefined{std::move(reason)}); }
  static Value none() { return Value(None{}); }
  static Value boolean(bool b) { return Value(b); }
  static Value integer(std::int64_t i) { return Value(i); }
  static Value number(double d) { return Value(d); }
  static Value string(std::string s) { return Value(std::move(s)); }
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value range(std::vector<Value> items, std::int64_t start, std::int64_t stop,
                     std::int64_t step);
  static Value dict(std::vector<std::pair<std::string, Value>> entries);
  static Value object(std::string object_name,
                      std::vector<std::pair<std::string, Value>> attributes);
  static Value dict_view(ListKind kind, std::vector<Value> items);
  static Value namespace_object(std::vector<std::pair<std::string, Value>> attributes);
  static Value function(std::string name,
                        std::function<Value(const std::vector<Value>&,
                                            const std::vector<std::pair<std::string, Value>>&)>
                            call);

  bool is_undefined() const { return std::holds_alternative<Undefined>(storage_); }
  bool is_none() const { return std::holds_alternative<None>(storage_); }
  bool is_bool() const { return std::holds_alternative<bool>(storage_); }
  bool is_int() const { return std::holds_alternative<std::int64_t>(storage_); }
  bool is_float() const { return std::holds_alternative<double>(storage_); }
  bool is_string() const { return std::holds_alternative<std::string>(storage_); }
  bool is_list() const { return std::holds_alternative<ListPtr>(storage_); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(storage_); }
  bool is_namespace() const { return std::holds_alternative<NamespacePtr>(storage_); }
  bool is_function() const { return std::holds_alternative<FunctionPtr>(storage_); }
  // Python's int, which bool is a subclass of.
  bool is_integral() const { return is_int() || is_bool(); }
  bool is_number() const { return is_integral() || is_float(); }

  const std::string& undefined_reason() const { return std::get<Undefined>(storage_).reason; }
  bool as_bool() const { return std::get<bool>(storage_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(storage_); }
  // An int or a bool as Python's int.
  std::int64_t as_integral() const { return is_bool() ? (as_bool() ? 1 : 0) : as_int(); }
  double as_float() const { return std::get<double>(storage_); }
  // An int, bool or float as Python's float.
  double as_double() const { return is_float() ? as_float() : static_cast<double>(as_integral()); }
  const std::string& as_string() const { return std::get<std::string>(storage_); }
  const ListData& as_list() const { return *std::get<ListPtr>(storage_); }
  const DictData& as_dict() const { return *std::get<DictPtr>(storage_); }
  NamespaceData& as_namespace() const { return *std::get<NamespacePtr>(storage_); }
  const Function& as_function() const { return *std::get<FunctionPtr>(storage_); }

  // Python's type name, for messages ("str", "list", "NoneType", ...).
  std::string type_name() const;

 private:
  using Storage = std::variant<Undefined, None, bool, std::int64_t, double, std::string, ListPtr,
                               DictPtr, NamespacePtr, FunctionPtr>;
  template <class T>
  explicit Value(T value) : storage_(std::move(value)) {}

  Storage storage_;
};

struct ListData {
  std::vector<Value> items;
  ListKind kind = ListKind::kList;
  std::int64_t range_start = 0, range_stop = 0, range_step = 1;  // kRange only, for repr
};

// Insertion-ordered, as Python's dict. Keys are strings: chat messages and the template's
// own dict literals have no others. A dict standing in for another Python object (the for
// loop's `loop`) names it in `object_name`: it has none of dict's methods, and no text form.
struct DictData {
  std::vector<std::pair<std::string, Value>> entries;
  std::string object_name;
  const Value* find(std::string_view key) const;
};

// jinja2's namespace(): the one mutable object, so a loop body can change what it shows.
struct NamespaceData {
  std::vector<std::pair<std::string, Value>> attributes;
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value);
};

using Keywords = std::vector<std::pair<std::string, Value>>;

struct Function {
  std::string name;
  std::function<Value(const std::vector<Value>&, const Keywords&)> call;
};

// Throws the error an Undefined raises when used (jinja2's UndefinedError).
[[noreturn]] void fail_undefined(const Value& undefined);

bool truthy(const Value& value);
// Python's str(); Undefined is "".
std::string to_str(const Value& value);
// Python's repr().
std::string repr(const Value& value);
// jinja2's has_safe_repr: None, bools, numbers, strings, ranges, and lists, tuples and dicts
// of them. Only such values are folded into a compiled template.
bool has_safe_repr(const Value& value);
// Whether Python can hash it (a dict key, `in` a dict).
bool hashable(const Value& value);
// Python's repr() of a float.
std::string float_repr(double value);

bool equals(const Value& a, const Value& b);
// Python's a < b, for the types that define it; anything else is a TypeError.
bool less(const Value& a, const Value& b);

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
Value binary(BinaryOp op, const Value& a, const Value& b);
Value negate(const Value& value);
Value positive(const Value& value);

// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// Python's iter(): a str gives its characters, a dict its keys, Undefined nothing.
std::vector<Value> iterate(const Value& value);
// Python's len(); Undefined has length 0.
std::int64_t length(const Value& value);

// jinja2's sandboxed getitem (`x[key]`) and getattr (`x.name`): a missing key or attribute is
// Undefined, Undefined itself fails.
Value get_item(const Value& object, const Value& key);
Value get_attribute(const Value& object, const std::string& name);
// Python's object[start:stop:step] on a str, list or tuple.
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// Code points of UTF-8 text (validated) and back.
std::u32string code_points(std::string_view text);
std::string utf8(std::u32string_view code_points);
// Python's str.isspace() for one character.
bool is_python_space(char32_t c);

// The longest string a template may build: a sandbox limit, far past any real prompt.
inline constexpr std::size_t kMaxStringBytes = std::size_t{64} << 20;

}  // namespace llmpi::jinja
