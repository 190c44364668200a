#include "jinja_render.hpp"

#include <algorithm>

#include "jinja_builtins.hpp"

namespace llmpi::jinja {

namespace {

// Enters a scope for the lifetime of the guard.
class ScopeGuard {
 public:
  explicit ScopeGuard(Context& context) : context_(context) { context_.push_scope(); }
  ~ScopeGuard() { context_.pop_scope(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  Context& context_;
};

Flow run_body(const Body& body, Context& context) {
  for (const StmtPtr& stmt : body) {
    const Flow flow = stmt->run(context);
    if (flow != Flow::kNext) return flow;
  }
  return Flow::kNext;
}

std::vector<Value> evaluate_all(const std::vector<ExprPtr>& exprs, Context& context) {
  std::vector<Value> values;
  values.reserve(exprs.size());
  for (const ExprPtr& expr : exprs) values.push_back(expr->evaluate(context));
  return values;
}

Keywords evaluate_keywords(const KeywordExprs& keywords, Context& context) {
  Keywords values;
  for (const auto& [name, expr] : keywords) values.emplace_back(name, expr->evaluate(context));
  return values;
}

// Binds a loop's or a set's targets, unpacking a sequence into several names as Python does.
void bind_targets(const Targets& targets, const Value& value, Context& context, int line) {
  if (!targets.unpack) {
    context.assign(targets.names[0], value);
    return;
  }
  const std::vector<Value> parts = context.at_line(line, [&] { return iterate(value); });
  if (parts.size() != targets.names.size()) {
    context.fail(
        line,
        parts.size() < targets.names.size()
            ? "not enough values to unpack (expected " + std::to_string(targets.names.size()) +
                  ", got " + std::to_string(parts.size()) + ")"
            : "too many values to unpack (expected " + std::to_string(targets.names.size()) + ")");
  }
  for (std::size_t i = 0; i < parts.size(); ++i) context.assign(targets.names[i], parts[i]);
}

bool compare(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::kEq:
      return equals(a, b);
    case CompareOp::kNe:
      return !equals(a, b);
    case CompareOp::kLt:
      return less(a, b);
    case CompareOp::kLe:
      return less(a, b) || equals(a, b);
    case CompareOp::kGt:
      return less(b, a);
    case CompareOp::kGe:
      return less(b, a) || equals(a, b);
    case CompareOp::kIn:
      return contains(b, a);
    case CompareOp::kNotIn:
      return !contains(b, a);
  }
  return false;
}

// What a block renders, in a scope of its own.
std::string render_to_string(const Body& body, Context& context) {
  std::string text;
  std::string* previous = context.redirect(&text);
  try {
    ScopeGuard scope(context);
    run_body(body, context);
  } catch (...) {
    context.redirect(previous);
    throw;
  }
  context.redirect(previous);
  return text;
}

void assign_attribute(Context& context, int line, const std::string& object_name,
                      const std::string& attribute, Value value) {
  const Value object = context.lookup(object_name);
  if (!object.is_namespace())
    context.fail(line, "cannot assign attribute on non-namespace object '" + object_name + "'");
  if (attribute.starts_with("_"))
    context.fail(line,
                 "chat templates cannot store underscore-prefixed attributes on a "
                 "namespace, but got '" +
                     attribute + "'");
  object.as_namespace().set(attribute, std::move(value));
}

}  // namespace

Context::Context(const std::string& where, std::vector<std::pair<std::string, Value>> variables,
                 std::string& out)
    : where_(where), scopes_(1), out_(&out) {
  for (auto& [name, value] : global_functions()) scopes_[0][name] = std::move(value);
  for (auto& [name, value] : variables) scopes_[0][name] = std::move(value);
}

Context Context::for_folding(const std::string& where, std::string& out) {
  Context context(where, {}, out);
  context.folding_ = true;
  return context;
}

Value Context::lookup(const std::string& name) const {
  if (folding_) throw NotConstant{};
  for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
    const auto it = scope->find(name);
    if (it != scope->end()) return it->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

void Context::assign(const std::string& name, Value value) {
  scopes_.back()[name] = std::move(value);
}

void Context::write(std::string_view text) {
  if (out_->size() + text.size() > kMaxStringBytes)
    throw Error(where_ + ": chat template output past llmpi's limit of " +
                std::to_string(kMaxStringBytes) + " bytes");
  out_->append(text);
}

std::string* Context::redirect(std::string* out) {
  std::string* previous = out_;
  out_ = out;
  return previous;
}

Value Expr::evaluate(Context& context) const {
  return context.at_line(line, [&] { return eval(context); });
}

Value Literal::eval(Context&) const {
  return value;
}

Value Name::eval(Context& context) const {
  return context.lookup(name);
}

Value SequenceLiteral::eval(Context& context) const {
  std::vector<Value> values = evaluate_all(items, context);
  return tuple ? Value::tuple(std::move(values)) : Value::list(std::move(values));
}

Value DictLiteral::eval(Context& context) const {
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& [key_expr, value_expr] : entries) {
    const Value key = key_expr->evaluate(context);
    if (!key.is_string())
      throw TemplateError("llmpi supports dict literals with str keys only, got " +
                          key.type_name());
    Value value = value_expr->evaluate(context);
    const auto it = std::find_if(values.begin(), values.end(),
                                 [&](const auto& entry) { return entry.first == key.as_string(); });
    if (it != values.end())
      it->second = std::move(value);  // Python keeps the first position, the last value
    else
      values.emplace_back(key.as_string(), std::move(value));
  }
  return Value::dict(std::move(values));
}

Value Attribute::eval(Context& context) const {
  return get_attribute(object->evaluate(context), name);
}

Value Subscript::eval(Context& context) const {
  const Value container = object->evaluate(context);
  return get_item(container, key->evaluate(context));
}

Value Slice::eval(Context& context) const {
  const Value container = object->evaluate(context);
  auto part = [&](const ExprPtr& expr) { return expr ? expr->evaluate(context) : Value::none(); };
  const Value a = part(start);
  const Value b = part(stop);
  const Value c = part(step);
  // Folding slices through jinja2's getitem, rendering through Python's own [].
  const bool sliceable = container.is_undefined() || container.is_string() || container.is_list();
  if (context.folding() && !sliceable)
    return Value::undefined(container.type_name() + " object has no element " +
                            repr(Value::tuple({a, b, c})));
  return slice(container, a, b, c);
}

Value Call::eval(Context& context) const {
  if (context.folding()) throw NotConstant{};
  const Value function = callee->evaluate(context);
  const std::vector<Value> values = evaluate_all(args, context);
  const Keywords keyword_values = evaluate_keywords(keywords, context);
  if (function.is_undefined()) fail_undefined(function);
  if (!function.is_function())
    throw TemplateError("'" + function.type_name() + "' object is not callable");
  return function.as_function().call(values, keyword_values);
}

Value FilterCall::eval(Context& context) const {
  const Value value = input->evaluate(context);
  const std::vector<Value> values = evaluate_all(args, context);
  return apply_filter(name, value, values, evaluate_keywords(keywords, context));
}

Value TestCall::eval(Context& context) const {
  const Value value = input->evaluate(context);
  const bool result = apply_test(name, value, evaluate_all(args, context));
  return Value::boolean(result != negated);
}

Value Unary::eval(Context& context) const {
  const Value value = operand->evaluate(context);
  switch (op) {
    case UnaryOp::kNot:
      return Value::boolean(!truthy(value));
    case UnaryOp::kNegate:
      return negate(value);
    case UnaryOp::kPositive:
      return positive(value);
  }
  return value;
}

Value Binary::eval(Context& context) const {
  const Value a = left->evaluate(context);
  return binary(op, a, right->evaluate(context));
}

Value Concat::eval(Context& context) const {
  std::string text;
  for (const ExprPtr& part : parts) {
    text += to_str(part->evaluate(context));
    if (text.size() > kMaxStringBytes) throw TemplateError("string past llmpi's limit");
  }
  return Value::string(std::move(text));
}

Value Logical::eval(Context& context) const {
  Value a = left->evaluate(context);
  if (truthy(a) != conjunction) return a;
  return right->evaluate(context);
}

Value Compare::eval(Context& context) const {
  Value a = first->evaluate(context);
  for (const auto& [op, expr] : rest) {
    Value b = expr->evaluate(context);
    if (!compare(op, a, b)) return Value::boolean(false);
    a = std::move(b);
  }
  return Value::boolean(true);
}

Value Conditional::eval(Context& context) const {
  if (truthy(test->evaluate(context))) return then->evaluate(context);
  if (otherwise) return otherwise->evaluate(context);
  return Value::undefined("the inline if-expression on line " + std::to_string(line) +
                          " evaluated to false and no else section was defined.");
}

Flow TextStmt::run(Context& context) const {
  context.write(text);
  return Flow::kNext;
}

Flow OutputStmt::run(Context& context) const {
  const Value value = expr->evaluate(context);
  context.write(context.at_line(line, [&] { return to_str(value); }));
  return Flow::kNext;
}

Flow IfStmt::run(Context& context) const {
  for (const auto& [test, body] : branches) {
    if (truthy(test->evaluate(context))) return run_body(body, context);
  }
  return run_body(otherwise, context);
}

Flow ForStmt::run(Context& context) const {
  const Value sequence = iterable->evaluate(context);
  std::vector<Value> items = context.at_line(line, [&] { return iterate(sequence); });
  if (filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      ScopeGuard scope(context);
      bind_targets(targets, item, context, line);
      if (truthy(filter->evaluate(context))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    ScopeGuard scope(context);
    return run_body(otherwise, context);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    ScopeGuard scope(context);
    bind_targets(targets, items[i], context, line);
    context.assign("loop", loop_object(items, i));
    if (run_body(body, context) == Flow::kBreak) break;
  }
  return Flow::kNext;
}

Flow SetStmt::run(Context& context) const {
  Value result = value->evaluate(context);
  if (!attribute.empty())
    assign_attribute(context, line, targets.names[0], attribute, std::move(result));
  else
    bind_targets(targets, result, context, line);
  return Flow::kNext;
}

Flow SetBlockStmt::run(Context& context) const {
  Value text = Value::string(render_to_string(body, context));
  if (!attribute.empty())
    assign_attribute(context, line, target, attribute, std::move(text));
  else
    context.assign(target, std::move(text));
  return Flow::kNext;
}

Flow LoopControlStmt::run(Context&) const {
  return flow;
}

Flow BlockStmt::run(Context& context) const {
  ScopeGuard scope(context);
  return run_body(body, context);
}

namespace {

// The value of `expr` computed while parsing, or nullopt where jinja2 could not compute it
// either (a variable, a call) or computing it fails (the error is left to rendering).
std::optional<Value> constant_value(const Expr& expr, const std::string& where) {
  std::string out;
  Context context = Context::for_folding(where, out);
  try {
    return expr.evaluate(context);
  } catch (const NotConstant&) {
  } catch (const Error&) {
  } catch (const TemplateError&) {
  }
  return std::nullopt;
}

}  // namespace

ExprPtr fold_constant(ExprPtr expr, const std::string& where) {
  if (dynamic_cast<const Literal*>(expr.get())) return expr;
  const auto value = constant_value(*expr, where);
  if (!value || !has_safe_repr(*value)) return expr;
  return std::make_unique<Literal>(expr->line, *value);
}

std::optional<std::string> fold_output(const Expr& expr, const std::string& where) {
  const auto value = constant_value(expr, where);
  if (!value) return std::nullopt;
  try {
    return to_str(*value);
  } catch (const TemplateError&) {
    return std::nullopt;
  }
}

std::string render(const Body& body, const std::string& where,
                   std::vector<std::pair<std::string, Value>> variables) {
  std::string out;
  Context context(where, std::move(variables), out);
  run_body(body, context);
  return out;
}

}  // namespace llmpi::jinja
