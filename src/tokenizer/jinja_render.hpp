#pragma once

// Renders a parsed chat template. Variables follow jinja2's scoping: a for loop's body (each
// iteration anew), a {% set %} block and a {% generation %} block see the enclosing variables
// but keep their own assignments; {% if %} does not scope. Private to src/tokenizer/.
#include <map>
#include <optional>
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
  // A context for evaluating an expression while parsing, as jinja2's compiler folds
  // constants: variables and calls are unknown there (they throw NotConstant).
  static Context for_folding(const std::string& where, std::string& out);

  bool folding() const { return folding_; }

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
  bool folding_ = false;
};

// What folding meets that it cannot know before rendering (a variable, a call).
struct NotConstant {};

// jinja2's constant folding, which is not only an optimisation: inside it, slicing what
// cannot be sliced gives Undefined (jinja2's getitem) where rendering raises Python's
// TypeError. `expr` as a literal when its value can be computed now and is one jinja2 keeps
// (None, bools, numbers, strings, and lists, tuples and dicts of them); otherwise unchanged.
ExprPtr fold_constant(ExprPtr expr, const std::string& where);
// The text of {{ expr }} when it can be computed now, whatever its value (jinja2 writes such
// outputs as text when compiling); nullopt otherwise.
std::optional<std::string> fold_output(const Expr& expr, const std::string& where);

// Renders `body` with `variables` (and transformers' global functions) defined.
std::string render(const Body& body, const std::string& where,
                   std::vector<std::pair<std::string, Value>> variables);

}  // namespace llmpi::jinja
