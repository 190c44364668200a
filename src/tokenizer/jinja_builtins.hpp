#pragma once

// What a chat template can call: the filters, tests, global functions and str/dict methods
// llmpi implements, each as jinja2 (configured as transformers configures it) behaves.
// Anything else is refused by name when the template is parsed. Private to src/tokenizer/.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jinja_value.hpp"

namespace llmpi::jinja {

// object.name as a bound method, for the methods llmpi implements; nullopt when the object
// has no method of that name. A Python method llmpi lacks is refused (TemplateError).
std::optional<Value> bound_method(const Value& object, const std::string& name);

bool is_supported_method(std::string_view name);
bool is_supported_filter(std::string_view name);
bool is_supported_test(std::string_view name);
// The names, comma-separated, for messages that refuse a construct.
std::string supported_methods();
std::string supported_filters();
std::string supported_tests();
std::string supported_functions();

// jinja2's default globals that llmpi refuses wherever a template mentions them:
// strftime_now (the output would depend on the clock), cycler, joiner, lipsum.
bool is_refused_global(std::string_view name);

Value apply_filter(const std::string& name, const Value& input, const std::vector<Value>& args,
                   const Keywords& keywords);
bool apply_test(const std::string& name, const Value& input, const std::vector<Value>& args);

// raise_exception, namespace, range and dict, as transformers defines them.
std::vector<std::pair<std::string, Value>> global_functions();

// The `loop` of one iteration of a for loop over `items`.
Value loop_object(const std::vector<Value>& items, std::size_t index);

}  // namespace llmpi::jinja
