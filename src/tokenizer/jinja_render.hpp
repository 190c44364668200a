#pragma once

// Renders a parsed chat template. Variables follow jinja2's scoping: a for loop's body (each
// iteration anew), a {% set %} block and a {% generation %} block see the enclosing variables
// but keep their own assignments; {% if %} does not scope. Private to src/tokenizer/.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jinja_ast.hpp"
#include "jinja_value.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi::jinja {

class Context {
 public:
  Context(const std::string& where, std::vector<std::pair<std::string, Value>> variables,
          std::string& out);

  const std::string& where() const { return where_; }

  // The variable's value; Undefined ("'name' is undefined") when no scope has it.
  Value lookup(const std::string& name) const;
  // Assigns in the innermost scope.
  void assign(const std::string& name, Value value);
  void push_scope() { scopes_.emplace_back(); }
  void pop_scope() { scopes_.pop_back(); }

  void write(std::string_view text);
  // Where output goes from now on; returns where it went before.
  std::string* redirect(std::string* out);

  // Runs f, turning a TemplateError into llmpi::Error "<where>:<line>: chat template ...".
  template <class F>
  auto at_line(int line, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const RaisedError& e) {
      throw Error(location(line) + "chat template raised an error: " + e.what());
    } catch (const TemplateError& e) {
      throw Error(location(line) + "chat template error: " + e.what());
    }
  }
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw Error(location(line) + "chat template error: " + message);
  }

 private:
  std::string location(int line) const { return where_ + ":" + std::to_string(line) + ": "; }

  const std::string& where_;
  std::vector<std::map<std::string, Value, std::less<>>> scopes_;
  std::string* out_;
};

// Renders `body` with `variables` (and transformers' global functions) defined.
std::string render(const Body& body, const std::string& where,
                   std::vector<std::pair<std::string, Value>> variables);

}  // namespace llmpi::jinja
