#include "jinja_builtins.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace llmpi::jinja {

namespace {

// One parameter of a builtin, Python style: required unless it has a fallback.
struct Parameter {
  std::string_view name;
  std::optional<Value> fallback;
};

std::string quoted(std::string_view name) {
  return "'" + std::string(name) + "'";
}

// Python's argument binding: positional first, then keywords by name.
std::vector<Value> bind(std::string_view what, const std::vector<Value>& args,
                        const Keywords& keywords, const std::vector<Parameter>& params) {
  if (args.size() > params.size())
    throw TemplateError(std::string(what) + " takes at most " + std::to_string(params.size()) +
                        " argument(s) (" + std::to_string(args.size()) + " given)");
  std::vector<std::optional<Value>> bound(params.size());
  for (std::size_t i = 0; i < args.size(); ++i) bound[i] = args[i];
  for (const auto& [name, value] : keywords) {
    const auto it = std::find_if(params.begin(), params.end(),
                                 [&](const Parameter& p) { return p.name == name; });
    if (it == params.end())
      throw TemplateError(std::string(what) + " got an unexpected keyword argument " +
                          quoted(name));
    auto& slot = bound[static_cast<std::size_t>(it - params.begin())];
    if (slot) throw TemplateError(std::string(what) + " got multiple values for " + quoted(name));
    slot = value;
  }
  std::vector<Value> values;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) {
      values.push_back(*bound[i]);
    } else if (params[i].fallback) {
      values.push_back(*params[i].fallback);
    } else {
      throw TemplateError(std::string(what) + " is missing the argument " + quoted(params[i].name));
    }
  }
  return values;
}

const std::string& require_string(std::string_view what, const Value& v) {
  if (!v.is_string())
    throw TemplateError(std::string(what) + " expects a str, not " + v.type_name());
  return v.as_string();
}

std::int64_t require_int(std::string_view what, const Value& v) {
  if (!v.is_integral())
    throw TemplateError(std::string(what) + " expects an int, not " + v.type_name());
  return v.as_integral();
}

// jinja2's soft_str: a str stays itself, anything else becomes str() of it.
std::string soft_str(const Value& v) {
  return to_str(v);
}

// Case mapping beyond ASCII needs Unicode's tables (and "ß".upper() is "SS"): llmpi refuses
// non-ASCII text here rather than guess.
const std::string& require_ascii(std::string_view what, const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80)
      throw TemplateError("llmpi implements " + std::string(what) + " for ASCII text only");
  }
  return text;
}

char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
}
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
bool ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string upper(std::string_view what, const std::string& text) {
  std::string out = require_ascii(what, text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_upper);
  return out;
}

std::string lower(std::string_view what, const std::string& text) {
  std::string out = require_ascii(what, text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

// str.capitalize(): the first character upper case, the rest lower.
std::string capitalize(std::string_view what, const std::string& text) {
  std::string out = lower(what, text);
  if (!out.empty()) out[0] = ascii_upper(out[0]);
  return out;
}

// str.title(): upper case after any character that is not a letter, lower case after one.
std::string title_method(const std::string& text) {
  std::string out = require_ascii("str.title()", text);
  bool previous_cased = false;
  for (char& c : out) {
    if (ascii_letter(c)) {
      c = previous_cased ? ascii_lower(c) : ascii_upper(c);
      previous_cased = true;
    } else {
      previous_cased = false;
    }
  }
  return out;
}

// jinja2's title filter: words start after runs of - whitespace ( { [ <.
std::string title_filter(const std::string& text) {
  std::string out = require_ascii("the filter 'title'", text);
  bool word_start = true;
  for (char& c : out) {
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' ||
                           is_python_space(static_cast<unsigned char>(c));
    if (separator) {
      word_start = true;
      continue;
    }
    c = word_start ? ascii_upper(c) : ascii_lower(c);
    word_start = false;
  }
  return out;
}

// str.strip/lstrip/rstrip: whitespace (str.isspace) or the characters of `chars`.
std::string strip(const std::string& text, const Value& chars, bool left, bool right) {
  const std::u32string s = code_points(text);
  const bool by_space = chars.is_none();
  const std::u32string set =
      by_space ? std::u32string() : code_points(require_string("strip", chars));
  auto stripped = [&](char32_t c) {
    return by_space ? is_python_space(c) : set.find(c) != std::u32string::npos;
  };
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (left && begin < end && stripped(s[begin])) ++begin;
  while (right && end > begin && stripped(s[end - 1])) --end;
  return utf8(std::u32string_view(s).substr(begin, end - begin));
}

// str.split() with no separator: runs of whitespace, none at either end (CPython's algorithm).
std::vector<Value> split_whitespace(const std::u32string& s, std::int64_t max_splits) {
  std::vector<Value> parts;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (max_splits-- != 0) {
    while (i < n && is_python_space(s[i])) ++i;
    if (i == n) break;
    const std::size_t j = i;
    while (i < n && !is_python_space(s[i])) ++i;
    parts.push_back(Value::string(utf8(std::u32string_view(s).substr(j, i - j))));
  }
  while (i < n && is_python_space(s[i])) ++i;
  if (i < n) parts.push_back(Value::string(utf8(std::u32string_view(s).substr(i))));
  return parts;
}

Value split(const std::string& text, const Value& separator, std::int64_t max_splits) {
  if (max_splits < 0) max_splits = -1;
  if (separator.is_none()) return Value::list(split_whitespace(code_points(text), max_splits));
  const std::string& sep = require_string("str.split()", separator);
  if (sep.empty()) throw TemplateError("ValueError: empty separator");
  std::vector<Value> parts;
  std::size_t start = 0;
  while (max_splits-- != 0) {
    const std::size_t at = text.find(sep, start);
    if (at == std::string::npos) break;
    parts.push_back(Value::string(text.substr(start, at - start)));
    start = at + sep.size();
  }
  parts.push_back(Value::string(text.substr(start)));
  return Value::list(std::move(parts));
}

// str.replace(old, new, count); an empty `old` matches between every two characters.
std::string replace(const std::string& text, const std::string& old, const std::string& with,
                    std::int64_t count) {
  std::string out;
  if (old.empty()) {
    const std::u32string s = code_points(text);
    for (std::size_t i = 0; i <= s.size(); ++i) {
      if (count != 0) {
        out += with;
        --count;
      }
      if (i < s.size()) out += utf8(std::u32string_view(s).substr(i, 1));
    }
    return out;
  }
  std::size_t start = 0;
  while (count != 0) {
    const std::size_t at = text.find(old, start);
    if (at == std::string::npos) break;
    out.append(text, start, at - start);
    out += with;
    start = at + old.size();
    --count;
  }
  out.append(text, start, std::string::npos);
  return out;
}

bool affix_matches(const std::string& text, const Value& affix, bool prefix) {
  auto one = [&](const Value& candidate) {
    const std::string& a =
        require_string(prefix ? "str.startswith()" : "str.endswith()", candidate);
    return prefix ? text.starts_with(a) : text.ends_with(a);
  };
  if (affix.is_list() && affix.as_list().kind == ListKind::kTuple) {
    const auto& options = affix.as_list().items;
    return std::any_of(options.begin(), options.end(), one);
  }
  return one(affix);
}

std::string join(const std::string& separator, const std::vector<Value>& items,
                 bool items_must_be_strings) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    if (items_must_be_strings)
      out += require_string("str.join()", items[i]);
    else
      out += soft_str(items[i]);
    if (out.size() > kMaxStringBytes) throw TemplateError("joined string past llmpi's limit");
  }
  return out;
}

using MethodBody = Value (*)(const Value& self, const std::vector<Value>& args,
                             const Keywords& keywords);

struct Method {
  std::string_view name;
  MethodBody body;
};

void no_arguments(std::string_view what, const std::vector<Value>& args, const Keywords& kw) {
  bind(what, args, kw, {});
}

const std::array<Method, 12> kStringMethods = {{
    {"strip",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.strip()", args, kw, {{"chars", Value::none()}});
       return Value::string(strip(self.as_string(), v[0], true, true));
     }},
    {"lstrip",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.lstrip()", args, kw, {{"chars", Value::none()}});
       return Value::string(strip(self.as_string(), v[0], true, false));
     }},
    {"rstrip",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.rstrip()", args, kw, {{"chars", Value::none()}});
       return Value::string(strip(self.as_string(), v[0], false, true));
     }},
    {"upper",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("str.upper()", args, kw);
       return Value::string(upper("str.upper()", self.as_string()));
     }},
    {"lower",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("str.lower()", args, kw);
       return Value::string(lower("str.lower()", self.as_string()));
     }},
    {"title",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("str.title()", args, kw);
       return Value::string(title_method(self.as_string()));
     }},
    {"capitalize",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("str.capitalize()", args, kw);
       return Value::string(capitalize("str.capitalize()", self.as_string()));
     }},
    {"startswith",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.startswith()", args, kw, {{"prefix", std::nullopt}});
       return Value::boolean(affix_matches(self.as_string(), v[0], true));
     }},
    {"endswith",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.endswith()", args, kw, {{"suffix", std::nullopt}});
       return Value::boolean(affix_matches(self.as_string(), v[0], false));
     }},
    {"split",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.split()", args, kw,
                           {{"sep", Value::none()}, {"maxsplit", Value::integer(-1)}});
       return split(self.as_string(), v[0], require_int("str.split()", v[1]));
     }},
    {"replace",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v =
           bind("str.replace()", args, kw,
                {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::integer(-1)}});
       return Value::string(replace(self.as_string(), require_string("str.replace()", v[0]),
                                    require_string("str.replace()", v[1]),
                                    require_int("str.replace()", v[2])));
     }},
    {"join",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("str.join()", args, kw, {{"iterable", std::nullopt}});
       return Value::string(join(self.as_string(), iterate(v[0]), true));
     }},
}};

std::vector<Value> dict_keys(const DictData& dict) {
  std::vector<Value> keys;
  for (const auto& entry : dict.entries) keys.push_back(Value::string(entry.first));
  return keys;
}

const std::array<Method, 4> kDictMethods = {{
    {"items",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("dict.items()", args, kw);
       std::vector<Value> items;
       for (const auto& [key, value] : self.as_dict().entries)
         items.push_back(Value::tuple({Value::string(key), value}));
       return Value::dict_view(ListKind::kDictItems, std::move(items));
     }},
    {"keys",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("dict.keys()", args, kw);
       return Value::dict_view(ListKind::kDictKeys, dict_keys(self.as_dict()));
     }},
    {"values",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("dict.values()", args, kw);
       std::vector<Value> values;
       for (const auto& entry : self.as_dict().entries) values.push_back(entry.second);
       return Value::dict_view(ListKind::kDictValues, std::move(values));
     }},
    {"get",
     [](const Value& self, const std::vector<Value>& args, const Keywords& kw) {
       const auto v =
           bind("dict.get()", args, kw, {{"key", std::nullopt}, {"default", Value::none()}});
       if (!hashable(v[0])) throw TemplateError("unhashable type: '" + v[0].type_name() + "'");
       const Value* found = v[0].is_string() ? self.as_dict().find(v[0].as_string()) : nullptr;
       return found ? *found : v[1];
     }},
}};

// Python's own methods of str, dict and list: those llmpi lacks are refused when reached.
constexpr std::array<std::string_view, 47> kPythonStringMethods = {
    "capitalize",   "casefold",    "center",    "count",      "encode",       "endswith",
    "expandtabs",   "find",        "format",    "format_map", "index",        "isalnum",
    "isalpha",      "isascii",     "isdecimal", "isdigit",    "isidentifier", "islower",
    "isnumeric",    "isprintable", "isspace",   "istitle",    "isupper",      "join",
    "ljust",        "lower",       "lstrip",    "maketrans",  "partition",    "removeprefix",
    "removesuffix", "replace",     "rfind",     "rindex",     "rjust",        "rpartition",
    "rsplit",       "rstrip",      "split",     "splitlines", "startswith",   "strip",
    "swapcase",     "title",       "translate", "upper",      "zfill"};
constexpr std::array<std::string_view, 11> kPythonDictMethods = {
    "clear", "copy",    "fromkeys",   "get",    "items", "keys",
    "pop",   "popitem", "setdefault", "update", "values"};
constexpr std::array<std::string_view, 11> kPythonListMethods = {
    "append", "clear", "copy",   "count",   "extend", "index",
    "insert", "pop",   "remove", "reverse", "sort"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

template <std::size_t N>
std::optional<Value> bind_method(const std::array<Method, N>& methods, const Value& self,
                                 const std::string& type, const std::string& name) {
  for (const Method& method : methods) {
    if (method.name != name) continue;
    const MethodBody body = method.body;
    return Value::function(type + "." + name,
                           [self, body](const std::vector<Value>& args, const Keywords& kw) {
                             return body(self, args, kw);
                           });
  }
  return std::nullopt;
}

[[noreturn]] void refuse_method(const std::string& type, const std::string& name) {
  throw TemplateError("llmpi does not support the method " + type + "." + name +
                      "() (supported: " + supported_methods() + ")");
}

// json.dumps as transformers' tojson filter calls it (ensure_ascii=False by default).
struct JsonStyle {
  std::optional<std::string> indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};

void json_string(std::string& out, const std::string& text, bool ensure_ascii) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto escape_unit = [&](std::uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(unit >> shift) & 0xf];
  };
  out += '"';
  for (const char32_t c : code_points(text)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7e)) {
          if (c >= 0x10000) {
            const std::uint32_t v = c - 0x10000;
            escape_unit(0xd800 + (v >> 10));
            escape_unit(0xdc00 + (v & 0x3ff));
          } else {
            escape_unit(c);
          }
        } else {
          out += utf8(std::u32string_view(&c, 1));
        }
    }
  }
  out += '"';
}

void json_value(std::string& out, const Value& v, const JsonStyle& style, int depth);

void json_newline(std::string& out, const JsonStyle& style, int depth) {
  out += '\n';
  for (int i = 0; i < depth; ++i) out += *style.indent;
}

template <class Items, class Write>
void json_container(std::string& out, char open, char close, const Items& items,
                    const JsonStyle& style, int depth, Write write_item) {
  out += open;
  if (items.empty()) {
    out += close;
    return;
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += style.item_separator;
    if (style.indent) json_newline(out, style, depth + 1);
    write_item(items[i]);
  }
  if (style.indent) json_newline(out, style, depth);
  out += close;
}

void json_value(std::string& out, const Value& v, const JsonStyle& style, int depth) {
  if (v.is_none()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    out += std::to_string(v.as_int());
  } else if (v.is_float()) {
    const double d = v.as_float();
    if (std::isnan(d))
      out += "NaN";
    else if (std::isinf(d))
      out += d > 0 ? "Infinity" : "-Infinity";
    else
      out += float_repr(d);
  } else if (v.is_string()) {
    json_string(out, v.as_string(), style.ensure_ascii);
  } else if (v.is_list() &&
             (v.as_list().kind == ListKind::kList || v.as_list().kind == ListKind::kTuple)) {
    json_container(out, '[', ']', v.as_list().items, style, depth,
                   [&](const Value& item) { json_value(out, item, style, depth + 1); });
  } else if (v.is_dict() && v.as_dict().object_name.empty()) {
    auto entries = v.as_dict().entries;
    if (style.sort_keys)
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    json_container(out, '{', '}', entries, style, depth, [&](const auto& entry) {
      json_string(out, entry.first, style.ensure_ascii);
      out += style.key_separator;
      json_value(out, entry.second, style, depth + 1);
    });
  } else {
    throw TemplateError("TypeError: Object of type " + v.type_name() + " is not JSON serializable");
  }
  if (out.size() > kMaxStringBytes) throw TemplateError("JSON text past llmpi's limit");
}

Value to_json(const Value& input, const std::vector<Value>& args, const Keywords& kw) {
  const auto v = bind("tojson", args, kw,
                      {{"ensure_ascii", Value::boolean(false)},
                       {"indent", Value::none()},
                       {"separators", Value::none()},
                       {"sort_keys", Value::boolean(false)}});
  JsonStyle style;
  style.ensure_ascii = truthy(v[0]);
  if (v[1].is_integral()) {
    style.indent =
        std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, v[1].as_integral())), ' ');
  } else if (v[1].is_string()) {
    style.indent = v[1].as_string();
  } else if (!v[1].is_none()) {
    throw TemplateError("tojson's indent must be an int, a str or None");
  }
  if (style.indent) style.item_separator = ",";
  if (!v[2].is_none()) {
    if (!v[2].is_list() || v[2].as_list().items.size() != 2)
      throw TemplateError("tojson's separators must be a pair of str");
    style.item_separator = require_string("tojson", v[2].as_list().items[0]);
    style.key_separator = require_string("tojson", v[2].as_list().items[1]);
  }
  style.sort_keys = truthy(v[3]);
  std::string out;
  json_value(out, input, style, 0);
  return Value::string(std::move(out));
}

using FilterBody = Value (*)(const Value& input, const std::vector<Value>& args,
                             const Keywords& keywords);

struct Filter {
  std::string_view name;
  FilterBody body;
};

Value length_filter(const Value& input, const std::vector<Value>& args, const Keywords& kw) {
  no_arguments("length", args, kw);
  return Value::integer(length(input));
}

Value default_filter(const Value& input, const std::vector<Value>& args, const Keywords& kw) {
  const auto v = bind("default", args, kw,
                      {{"default_value", Value::string("")}, {"boolean", Value::boolean(false)}});
  return input.is_undefined() || (truthy(v[1]) && !truthy(input)) ? v[0] : input;
}

const std::array<Filter, 16> kFilters = {{
    {"trim",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       const auto v = bind("trim", args, kw, {{"chars", Value::none()}});
       return Value::string(strip(soft_str(input), v[0], true, true));
     }},
    {"length", length_filter},
    {"count", length_filter},
    {"upper",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("upper", args, kw);
       return Value::string(upper("the filter 'upper'", soft_str(input)));
     }},
    {"lower",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("lower", args, kw);
       return Value::string(lower("the filter 'lower'", soft_str(input)));
     }},
    {"capitalize",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("capitalize", args, kw);
       return Value::string(capitalize("the filter 'capitalize'", soft_str(input)));
     }},
    {"title",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("title", args, kw);
       return Value::string(title_filter(soft_str(input)));
     }},
    {"default", default_filter},
    {"d", default_filter},
    {"join",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       const auto v =
           bind("join", args, kw, {{"d", Value::string("")}, {"attribute", Value::none()}});
       if (!v[1].is_none()) throw TemplateError("llmpi does not support join(attribute=...)");
       return Value::string(join(soft_str(v[0]), iterate(input), false));
     }},
    {"first",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("first", args, kw);
       const auto items = iterate(input);
       return items.empty() ? Value::undefined("No first item, sequence was empty.")
                            : items.front();
     }},
    {"last",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("last", args, kw);
       const auto items = iterate(input);
       return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
     }},
    {"list",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("list", args, kw);
       return Value::list(iterate(input));
     }},
    {"string",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       no_arguments("string", args, kw);
       return Value::string(soft_str(input));
     }},
    {"replace",
     [](const Value& input, const std::vector<Value>& args, const Keywords& kw) {
       const auto v =
           bind("replace", args, kw,
                {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::none()}});
       const std::int64_t count = v[2].is_none() ? -1 : require_int("replace", v[2]);
       return Value::string(replace(soft_str(input), soft_str(v[0]), soft_str(v[1]), count));
     }},
    {"tojson", to_json},
}};

using TestBody = bool (*)(const Value& input, const std::vector<Value>& args);

struct Test {
  std::string_view name;
  std::size_t arity;  // arguments after the tested value
  TestBody body;
};

bool is_plain_or_range(const Value& v) {
  return v.is_list() &&
         (v.as_list().kind == ListKind::kList || v.as_list().kind == ListKind::kTuple ||
          v.as_list().kind == ListKind::kRange);
}

bool divisible(const Value& value, const Value& by) {
  return equals(binary(BinaryOp::kMod, value, by), Value::integer(0));
}

bool less_or_equal(const Value& a, const Value& b) {
  return less(a, b) || equals(a, b);
}

const std::array<Test, 24> kTests = {{
    {"defined", 0, [](const Value& v, const std::vector<Value>&) { return !v.is_undefined(); }},
    {"undefined", 0, [](const Value& v, const std::vector<Value>&) { return v.is_undefined(); }},
    {"none", 0, [](const Value& v, const std::vector<Value>&) { return v.is_none(); }},
    {"string", 0, [](const Value& v, const std::vector<Value>&) { return v.is_string(); }},
    {"number", 0, [](const Value& v, const std::vector<Value>&) { return v.is_number(); }},
    {"integer", 0, [](const Value& v, const std::vector<Value>&) { return v.is_int(); }},
    {"float", 0, [](const Value& v, const std::vector<Value>&) { return v.is_float(); }},
    {"boolean", 0, [](const Value& v, const std::vector<Value>&) { return v.is_bool(); }},
    {"true", 0,
     [](const Value& v, const std::vector<Value>&) { return v.is_bool() && v.as_bool(); }},
    {"false", 0,
     [](const Value& v, const std::vector<Value>&) { return v.is_bool() && !v.as_bool(); }},
    {"mapping", 0,
     [](const Value& v, const std::vector<Value>&) {
       return v.is_dict() && v.as_dict().object_name.empty();
     }},
    {"sequence", 0,
     [](const Value& v, const std::vector<Value>&) {
       // Python: has len() and [] (a dict has both; Undefined too).
       return v.is_undefined() || v.is_string() || is_plain_or_range(v) ||
              (v.is_dict() && v.as_dict().object_name.empty());
     }},
    {"iterable", 0,
     [](const Value& v, const std::vector<Value>&) {
       return v.is_undefined() || v.is_string() || v.is_list() ||
              (v.is_dict() && v.as_dict().object_name.empty());
     }},
    {"even", 0,
     [](const Value& v, const std::vector<Value>&) { return divisible(v, Value::integer(2)); }},
    {"odd", 0,
     [](const Value& v, const std::vector<Value>&) { return !divisible(v, Value::integer(2)); }},
    {"divisibleby", 1,
     [](const Value& v, const std::vector<Value>& a) { return divisible(v, a[0]); }},
    {"in", 1, [](const Value& v, const std::vector<Value>& a) { return contains(a[0], v); }},
    {"eq", 1, [](const Value& v, const std::vector<Value>& a) { return equals(v, a[0]); }},
    {"equalto", 1, [](const Value& v, const std::vector<Value>& a) { return equals(v, a[0]); }},
    {"ne", 1, [](const Value& v, const std::vector<Value>& a) { return !equals(v, a[0]); }},
    {"lt", 1, [](const Value& v, const std::vector<Value>& a) { return less(v, a[0]); }},
    {"le", 1, [](const Value& v, const std::vector<Value>& a) { return less_or_equal(v, a[0]); }},
    {"gt", 1, [](const Value& v, const std::vector<Value>& a) { return less(a[0], v); }},
    {"ge", 1, [](const Value& v, const std::vector<Value>& a) { return less_or_equal(a[0], v); }},
}};

constexpr std::array<std::string_view, 4> kRefusedGlobals = {"strftime_now", "cycler", "joiner",
                                                             "lipsum"};

template <class Table>
std::string names_of(const Table& table) {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

Value raise_exception(const std::vector<Value>& args, const Keywords& kw) {
  const auto v = bind("raise_exception", args, kw, {{"message", std::nullopt}});
  throw RaisedError(to_str(v[0]));
}

// The attributes of namespace() or dict(): one optional dict, then keyword arguments.
std::vector<std::pair<std::string, Value>> attributes_of(std::string_view what,
                                                         const std::vector<Value>& args,
                                                         const Keywords& kw) {
  if (args.size() > 1 || (args.size() == 1 && !args[0].is_dict()))
    throw TemplateError("llmpi supports " + std::string(what) +
                        "() with keyword arguments and at most one dict");
  std::vector<std::pair<std::string, Value>> attributes;
  if (!args.empty()) attributes = args[0].as_dict().entries;
  for (const auto& [name, value] : kw) {
    const auto it = std::find_if(attributes.begin(), attributes.end(),
                                 [&](const auto& a) { return a.first == name; });
    if (it != attributes.end())
      it->second = value;
    else
      attributes.emplace_back(name, value);
  }
  return attributes;
}

Value make_namespace(const std::vector<Value>& args, const Keywords& kw) {
  auto attributes = attributes_of("namespace", args, kw);
  for (const auto& attribute : attributes) {
    if (attribute.first.starts_with("_"))
      throw TemplateError(
          "chat templates cannot store underscore-prefixed attributes on a "
          "namespace, but got '" +
          attribute.first + "'");
  }
  return Value::namespace_object(std::move(attributes));
}

Value make_dict(const std::vector<Value>& args, const Keywords& kw) {
  return Value::dict(attributes_of("dict", args, kw));
}

// range(), with jinja2's sandbox limit of 100000 items.
Value make_range(const std::vector<Value>& args, const Keywords& kw) {
  if (!kw.empty()) throw TemplateError("range() takes no keyword arguments");
  if (args.empty() || args.size() > 3)
    throw TemplateError("range expected 1 to 3 arguments, got " + std::to_string(args.size()));
  std::array<std::int64_t, 3> bounds = {0, 0, 1};
  for (std::size_t i = 0; i < args.size(); ++i) bounds[i] = require_int("range()", args[i]);
  if (args.size() == 1) bounds = {0, bounds[0], 1};
  const auto [start, stop, step] = bounds;
  if (step == 0) throw TemplateError("ValueError: range() arg 3 must not be zero");
  std::vector<Value> items;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (items.size() >= 100000)
      throw TemplateError(
          "Range too big. The sandbox blocks ranges larger than MAX_RANGE "
          "(100000).");
    items.push_back(Value::integer(i));
  }
  return Value::range(std::move(items), start, stop, step);
}

}  // namespace

std::optional<Value> bound_method(const Value& object, const std::string& name) {
  if (object.is_string()) {
    if (auto method = bind_method(kStringMethods, object, "str", name)) return method;
    if (listed(kPythonStringMethods, name)) refuse_method("str", name);
  } else if (object.is_dict() && object.as_dict().object_name.empty()) {
    if (auto method = bind_method(kDictMethods, object, "dict", name)) return method;
    if (listed(kPythonDictMethods, name)) refuse_method("dict", name);
  } else if (object.is_list() && listed(kPythonListMethods, name)) {
    refuse_method(object.type_name(), name);
  }
  return std::nullopt;
}

bool is_supported_method(std::string_view name) {
  auto in = [&](const auto& table) {
    return std::any_of(table.begin(), table.end(), [&](const Method& m) { return m.name == name; });
  };
  // loop.cycle() is an attribute of the loop object, which also counts here.
  return in(kStringMethods) || in(kDictMethods) || name == "cycle";
}

bool is_supported_filter(std::string_view name) {
  return std::any_of(kFilters.begin(), kFilters.end(),
                     [&](const Filter& f) { return f.name == name; });
}

bool is_supported_test(std::string_view name) {
  return std::any_of(kTests.begin(), kTests.end(), [&](const Test& t) { return t.name == name; });
}

std::string supported_methods() {
  return names_of(kStringMethods) + " (of str), " + names_of(kDictMethods) +
         " (of dict), cycle (of loop)";
}
std::string supported_filters() {
  return names_of(kFilters);
}
std::string supported_tests() {
  return names_of(kTests);
}
std::string supported_functions() {
  return "raise_exception, namespace, range, dict";
}

bool is_refused_global(std::string_view name) {
  return listed(kRefusedGlobals, name);
}

Value apply_filter(const std::string& name, const Value& input, const std::vector<Value>& args,
                   const Keywords& keywords) {
  for (const Filter& filter : kFilters) {
    if (filter.name == name) return filter.body(input, args, keywords);
  }
  throw TemplateError("no filter named '" + name + "'");
}

bool apply_test(const std::string& name, const Value& input, const std::vector<Value>& args) {
  for (const Test& test : kTests) {
    if (test.name != name) continue;
    if (args.size() != test.arity)
      throw TemplateError("the test '" + name + "' takes " + std::to_string(test.arity) +
                          " argument(s), got " + std::to_string(args.size()));
    return test.body(input, args);
  }
  throw TemplateError("no test named '" + name + "'");
}

std::vector<std::pair<std::string, Value>> global_functions() {
  return {{"raise_exception", Value::function("raise_exception", raise_exception)},
          {"namespace", Value::function("namespace", make_namespace)},
          {"range", Value::function("range", make_range)},
          {"dict", Value::function("dict", make_dict)}};
}

Value loop_object(const std::vector<Value>& items, std::size_t index) {
  const auto n = static_cast<std::int64_t>(items.size());
  const auto i = static_cast<std::int64_t>(index);
  auto cycle = [i](const std::vector<Value>& args, const Keywords& kw) {
    if (!kw.empty()) throw TemplateError("loop.cycle() takes no keyword arguments");
    if (args.empty()) throw TemplateError("no items for cycling given");
    return args[static_cast<std::size_t>(i % static_cast<std::int64_t>(args.size()))];
  };
  return Value::object(
      "LoopContext",
      {{"index0", Value::integer(i)},
       {"index", Value::integer(i + 1)},
       {"revindex0", Value::integer(n - i - 1)},
       {"revindex", Value::integer(n - i)},
       {"first", Value::boolean(i == 0)},
       {"last", Value::boolean(i == n - 1)},
       {"length", Value::integer(n)},
       {"depth0", Value::integer(0)},
       {"depth", Value::integer(1)},
       {"previtem", index > 0 ? items[index - 1] : Value::undefined("there is no previous item")},
       {"nextitem",
        index + 1 < items.size() ? items[index + 1] : Value::undefined("there is no next item")},
       {"cycle", Value::function("loop.cycle", cycle)}});
}

}  // namespace llmpi::jinja
