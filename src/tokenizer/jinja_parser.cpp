#include "jinja_parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <string_view>

#include "jinja_builtins.hpp"
#include "jinja_render.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi::jinja {

namespace {

using Kind = Token::Kind;

// jinja2's statements (and those of its bundled extensions) that llmpi leaves out.
constexpr std::array<std::string_view, 13> kUnsupportedStatements = {
    "macro", "call", "filter", "include",    "import", "from", "extends",
    "block", "with", "print",  "autoescape", "do",     "trans"};

// Ends of blocks: met where no block is open, they are syntax errors.
constexpr std::array<std::string_view, 7> kBlockEnds = {
    "elif", "else", "endif", "endfor", "endset", "endgeneration", "endraw"};

// How deeply expressions and blocks may nest: far past real templates, far from the stack's
// limit.
constexpr int kMaxNesting = 200;

std::string token_description(const Token& token) {
  switch (token.kind) {
    case Kind::kText:
      return "template text";
    case Kind::kVariableBegin:
      return "'{{'";
    case Kind::kVariableEnd:
      return "'}}'";
    case Kind::kBlockBegin:
      return "'{%'";
    case Kind::kBlockEnd:
      return "'%}'";
    case Kind::kString:
      return "a string";
    case Kind::kEnd:
      return "the end of the template";
    default:
      return "'" + token.text + "'";
  }
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& where)
      : tokens_(std::move(tokens)), where_(where) {}

  Body parse() {
    Body body = parse_body({}, "", 0).body;
    return body;
  }

 private:
  // A body and the tag that ended it (empty at the end of the template).
  struct Ending {
    Body body;
    std::string tag;
  };

  // Keeps recursion within kMaxNesting.
  class NestingGuard {
   public:
    NestingGuard(Parser& parser, int line) : parser_(parser) {
      if (++parser_.nesting_ > kMaxNesting) parser_.fail(line, "the template nests too deeply");
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    Parser& parser_;
  };

  [[noreturn]] void fail(int line, const std::string& message) const {
    throw Error(where_ + ":" + std::to_string(line) + ": chat template syntax error: " + message);
  }

  [[noreturn]] void refuse(int line, const std::string& what, const std::string& supported) const {
    throw Error(where_ + ":" + std::to_string(line) + ": chat template uses " + what +
                ", which llmpi does not support (supported: " + supported + ")");
  }

  // Refuses a tree deeper than jinja2 (through Python's parser) can compile, then folds it.
  ExprPtr fold(ExprPtr expr) const {
    if (expr->depth > kMaxNesting) fail(expr->line, "the template nests too deeply");
    return fold_constant(std::move(expr), where_);
  }

  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }

  bool at(Kind kind) const { return current().kind == kind; }
  bool at_operator(std::string_view op) const {
    return at(Kind::kOperator) && current().text == op;
  }
  bool at_name(std::string_view name) const { return at(Kind::kName) && current().text == name; }

  bool skip_operator(std::string_view op) {
    if (!at_operator(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }

  const Token& expect(Kind kind, const std::string& what) {
    if (!at(kind))
      fail(current().line, "expected " + what + ", got " + token_description(current()));
    return next();
  }
  void expect_operator(std::string_view op) {
    if (!skip_operator(op))
      fail(current().line,
           "expected '" + std::string(op) + "', got " + token_description(current()));
  }
  void expect_name(std::string_view name) {
    if (!skip_name(name))
      fail(current().line,
           "expected '" + std::string(name) + "', got " + token_description(current()));
  }

  // ---- statements ----

  // Template text, {{ }} and statements until a {% tag %} named in `ends` (left with the tag's
  // name as the current token) or the end of the template.
  Ending parse_body(std::initializer_list<std::string_view> ends, std::string_view opener,
                    int opener_line) {
    Ending ending;
    while (true) {
      const Token& token = current();
      if (token.kind == Kind::kText) {
        ending.body.push_back(std::make_unique<TextStmt>(token.line, token.text));
        next();
      } else if (token.kind == Kind::kVariableBegin) {
        next();
        ExprPtr expr = parse_tuple(true, false, {});
        expect(Kind::kVariableEnd, "'}}'");
        // jinja2 writes an output whose value it can compute while compiling as text.
        if (auto folded = fold_output(*expr, where_))
          ending.body.push_back(std::make_unique<TextStmt>(token.line, std::move(*folded)));
        else
          ending.body.push_back(std::make_unique<OutputStmt>(token.line, std::move(expr)));
      } else if (token.kind == Kind::kBlockBegin) {
        next();
        if (at(Kind::kName) && std::find(ends.begin(), ends.end(), current().text) != ends.end()) {
          ending.tag = current().text;
          return ending;
        }
        ending.body.push_back(parse_statement());
        expect(Kind::kBlockEnd, "'%}'");
      } else if (ends.size() == 0) {
        return ending;
      } else {
        std::string wanted;
        for (const std::string_view end : ends)
          wanted += (wanted.empty() ? "" : " or ") + std::string(end);
        fail(opener_line, "the {% " + std::string(opener) + " %} here is never closed (expected " +
                              wanted + ")");
      }
    }
  }

  // The rest of a tag that opens a body: an optional ':' then '%}'.
  void end_opening_tag() {
    skip_operator(":");
    expect(Kind::kBlockEnd, "'%}'");
  }

  StmtPtr parse_statement() {
    const Token& token = current();
    if (token.kind != Kind::kName) fail(token.line, "expected a statement name after '{%'");
    NestingGuard guard(*this, token.line);
    const std::string name = token.text;
    const int line = token.line;
    if (name == "if") return parse_if(line);
    if (name == "for") return parse_for(line);
    if (name == "set") return parse_set(line);
    if (name == "break" || name == "continue") return parse_loop_control(line, name);
    if (name == "generation") return parse_generation(line);
    if (std::find(kUnsupportedStatements.begin(), kUnsupportedStatements.end(), name) !=
        kUnsupportedStatements.end())
      refuse(line, "the statement '" + name + "'", supported_statements());
    if (std::find(kBlockEnds.begin(), kBlockEnds.end(), name) != kBlockEnds.end())
      fail(line, "'" + name + "' without the statement it would end");
    fail(line, "unknown statement '" + name + "' (supported: " + supported_statements() + ")");
  }

  StmtPtr parse_if(int line) {
    next();  // if
    IfStmt::Branches branches;
    Body otherwise;
    while (true) {
      ExprPtr test = parse_tuple(false, false, {});
      end_opening_tag();
      Ending ending = parse_body({"elif", "else", "endif"}, "if", line);
      branches.emplace_back(std::move(test), std::move(ending.body));
      next();  // the tag's name
      if (ending.tag == "elif") continue;
      if (ending.tag == "else") {
        end_opening_tag();
        otherwise = parse_body({"endif"}, "if", line).body;
        next();
      }
      break;
    }
    return std::make_unique<IfStmt>(line, std::move(branches), std::move(otherwise));
  }

  // for and set targets: a name, or names to unpack ("a, b" or "(a, b)").
  Targets parse_targets() {
    Targets targets;
    const bool parenthesized = skip_operator("(");
    while (true) {
      const Token& token = expect(Kind::kName, "a variable name");
      if (token.text == "true" || token.text == "false" || token.text == "none" ||
          token.text == "True" || token.text == "False" || token.text == "None")
        fail(token.line, "cannot assign to '" + token.text + "'");
      targets.names.push_back(token.text);
      if (!skip_operator(",")) break;
      targets.unpack = true;
      if (!at(Kind::kName)) break;  // a trailing comma
    }
    if (parenthesized) {
      expect_operator(")");
      targets.unpack = targets.unpack || targets.names.size() > 1;
    }
    return targets;
  }

  StmtPtr parse_for(int line) {
    next();  // for
    Targets targets = parse_targets();
    expect_name("in");
    ExprPtr iterable = parse_tuple(false, false, {"recursive"});
    ExprPtr filter;
    if (skip_name("if")) filter = parse_expression(true);
    if (at_name("recursive")) refuse(line, "a recursive for loop", "plain for loops");
    end_opening_tag();
    ++loop_depth_;
    Ending ending = parse_body({"endfor", "else"}, "for", line);
    --loop_depth_;
    next();
    Body otherwise;
    if (ending.tag == "else") {
      end_opening_tag();
      otherwise = parse_body({"endfor"}, "for", line).body;
      next();
    }
    return std::make_unique<ForStmt>(line, std::move(targets), std::move(iterable),
                                     std::move(filter), std::move(ending.body),
                                     std::move(otherwise));
  }

  StmtPtr parse_set(int line) {
    next();  // set
    Targets targets;
    std::string attribute;
    if (at(Kind::kName) && look().kind == Kind::kOperator && look().text == ".") {
      targets.names.push_back(next().text);
      next();  // .
      attribute = expect(Kind::kName, "an attribute name").text;
    } else {
      targets = parse_targets();
    }
    if (skip_operator("=")) {
      ExprPtr value = parse_tuple(true, false, {});
      return std::make_unique<SetStmt>(line, std::move(targets), std::move(attribute),
                                       std::move(value));
    }
    if (at_operator("|"))
      refuse(line, "a filter on a {% set %} block", "{% set x %}...{% endset %}");
    if (targets.unpack) fail(line, "a {% set %} block assigns one name");
    end_opening_tag();
    Body body = parse_body({"endset"}, "set", line).body;
    next();
    return std::make_unique<SetBlockStmt>(line, targets.names[0], std::move(attribute),
                                          std::move(body));
  }

  StmtPtr parse_loop_control(int line, const std::string& name) {
    next();
    if (loop_depth_ == 0) fail(line, "'" + name + "' outside a for loop");
    return std::make_unique<LoopControlStmt>(line,
                                             name == "break" ? Flow::kBreak : Flow::kContinue);
  }

  // transformers' {% generation %}: marks the assistant's tokens, renders its body as is.
  StmtPtr parse_generation(int line) {
    next();
    end_opening_tag();
    Body body = parse_body({"endgeneration"}, "generation", line).body;
    next();
    return std::make_unique<BlockStmt>(line, std::move(body));
  }

  // ---- expressions, in jinja2's precedence ----

  bool at_tuple_end(std::initializer_list<std::string_view> extra_ends) const {
    if (at(Kind::kVariableEnd) || at(Kind::kBlockEnd) || at_operator(")")) return true;
    return at(Kind::kName) &&
           std::find(extra_ends.begin(), extra_ends.end(), current().text) != extra_ends.end();
  }

  // Comma-separated expressions: one is itself, several (or a trailing comma) a tuple.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parentheses,
                      std::initializer_list<std::string_view> extra_ends) {
    const int line = current().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_operator(",");
      if (at_tuple_end(extra_ends)) break;
      items.push_back(parse_expression(with_condexpr));
      if (!at_operator(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses)
        fail(line, "expected an expression, got " + token_description(current()));
    }
    return fold(std::make_unique<SequenceLiteral>(line, std::move(items), true));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    NestingGuard guard(*this, current().line);
    return with_condexpr ? parse_conditional() : parse_or();
  }

  // then if test else otherwise
  ExprPtr parse_conditional() {
    const int line = current().line;
    ExprPtr expr = parse_or();
    while (skip_name("if")) {
      ExprPtr test = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) otherwise = parse_conditional();
      expr = fold(std::make_unique<Conditional>(line, std::move(test), std::move(expr),
                                                std::move(otherwise)));
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      left = fold(std::make_unique<Logical>(line, false, std::move(left), parse_and()));
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      left = fold(std::make_unique<Logical>(line, true, std::move(left), parse_not()));
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      const int line = next().line;
      NestingGuard guard(*this, line);
      return fold(std::make_unique<Unary>(line, UnaryOp::kNot, parse_not()));
    }
    return parse_compare();
  }

  std::optional<CompareOp> comparison_operator() const {
    if (!at(Kind::kOperator)) return std::nullopt;
    const std::string& op = current().text;
    if (op == "==") return CompareOp::kEq;
    if (op == "!=") return CompareOp::kNe;
    if (op == "<") return CompareOp::kLt;
    if (op == "<=") return CompareOp::kLe;
    if (op == ">") return CompareOp::kGt;
    if (op == ">=") return CompareOp::kGe;
    return std::nullopt;
  }

  ExprPtr parse_compare() {
    const int line = current().line;
    ExprPtr first = parse_math1();
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
    while (true) {
      if (const auto op = comparison_operator()) {
        next();
        rest.emplace_back(*op, parse_math1());
      } else if (skip_name("in")) {
        rest.emplace_back(CompareOp::kIn, parse_math1());
      } else if (at_name("not") && look().kind == Kind::kName && look().text == "in") {
        next();
        next();
        rest.emplace_back(CompareOp::kNotIn, parse_math1());
      } else {
        break;
      }
    }
    if (rest.empty()) return first;
    return fold(std::make_unique<Compare>(line, std::move(first), std::move(rest)));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_operator("+") || at_operator("-")) {
      const Token& op = next();
      const BinaryOp kind = op.text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      left = fold(std::make_unique<Binary>(op.line, kind, std::move(left), parse_concat()));
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = current().line;
    std::vector<ExprPtr> parts;
    parts.push_back(parse_math2());
    while (skip_operator("~")) parts.push_back(parse_math2());
    if (parts.size() == 1) return std::move(parts[0]);
    return fold(std::make_unique<Concat>(line, std::move(parts)));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_operator("*") || at_operator("/") || at_operator("//") || at_operator("%")) {
      const Token& op = next();
      const BinaryOp kind = op.text == "*"    ? BinaryOp::kMul
                            : op.text == "/"  ? BinaryOp::kDiv
                            : op.text == "//" ? BinaryOp::kFloorDiv
                                              : BinaryOp::kMod;
      left = fold(std::make_unique<Binary>(op.line, kind, std::move(left), parse_pow()));
    }
    return left;
  }

  // jinja2's ** groups left to right: 2 ** 3 ** 2 is 64.
  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (at_operator("**")) {
      const int line = next().line;
      left =
          fold(std::make_unique<Binary>(line, BinaryOp::kPow, std::move(left), parse_unary(true)));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    const int line = current().line;
    NestingGuard guard(*this, line);
    ExprPtr node;
    if (skip_operator("-")) {
      node = fold(std::make_unique<Unary>(line, UnaryOp::kNegate, parse_unary(false)));
    } else if (skip_operator("+")) {
      node = fold(std::make_unique<Unary>(line, UnaryOp::kPositive, parse_unary(false)));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    switch (token.kind) {
      case Kind::kName:
        next();
        return name_or_constant(token);
      case Kind::kString: {
        std::string text;
        while (at(Kind::kString)) text += next().text;  // 'a' 'b' is 'ab'
        return std::make_unique<Literal>(token.line, Value::string(std::move(text)));
      }
      case Kind::kInteger:
        next();
        return std::make_unique<Literal>(token.line, integer_value(token));
      case Kind::kFloat:
        next();
        return std::make_unique<Literal>(token.line, float_value(token));
      case Kind::kOperator:
        if (token.text == "(") {
          next();
          ExprPtr inner = parse_tuple(true, true, {});
          expect_operator(")");
          return inner;
        }
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail(token.line, "unexpected " + token_description(token));
  }

  ExprPtr name_or_constant(const Token& token) {
    const std::string& name = token.text;
    if (name == "true" || name == "True")
      return std::make_unique<Literal>(token.line, Value::boolean(true));
    if (name == "false" || name == "False")
      return std::make_unique<Literal>(token.line, Value::boolean(false));
    if (name == "none" || name == "None")
      return std::make_unique<Literal>(token.line, Value::none());
    if (is_refused_global(name))
      refuse(token.line, "the function '" + name + "'", supported_functions());
    return std::make_unique<Name>(token.line, name);
  }

  Value integer_value(const Token& token) const {
    std::int64_t value = 0;
    const auto* end = token.text.data() + token.text.size();
    const auto result = std::from_chars(token.text.data(), end, value);
    if (result.ec != std::errc() || result.ptr != end)
      fail(token.line, "the integer " + token.text + " does not fit in 64 bits");
    return Value::integer(value);
  }

  Value float_value(const Token& token) const {
    double value = 0;
    const auto* end = token.text.data() + token.text.size();
    const auto result = std::from_chars(token.text.data(), end, value);
    if (result.ptr != end ||
        (result.ec != std::errc() && result.ec != std::errc::result_out_of_range))
      fail(token.line, "invalid number " + token.text);
    return Value::number(value);
  }

  ExprPtr parse_list() {
    const int line = next().line;  // [
    std::vector<ExprPtr> items;
    while (!at_operator("]")) {
      if (!items.empty()) expect_operator(",");
      if (at_operator("]")) break;
      items.push_back(parse_expression(true));
    }
    expect_operator("]");
    return fold(std::make_unique<SequenceLiteral>(line, std::move(items), false));
  }

  ExprPtr parse_dict() {
    const int line = next().line;  // {
    DictLiteral::Entries entries;
    while (!at_operator("}")) {
      if (!entries.empty()) expect_operator(",");
      if (at_operator("}")) break;
      ExprPtr key = parse_expression(true);
      expect_operator(":");
      entries.emplace_back(std::move(key), parse_expression(true));
    }
    expect_operator("}");
    return fold(std::make_unique<DictLiteral>(line, std::move(entries)));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_operator(".") || at_operator("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_operator("|")) {
        node = parse_filter(std::move(node));
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& token = next();
    if (token.text == ".") {
      const Token& attribute = next();
      if (attribute.kind == Kind::kName)
        return fold(std::make_unique<Attribute>(token.line, std::move(node), attribute.text));
      if (attribute.kind != Kind::kInteger)
        fail(attribute.line, "expected a name or a number after '.'");
      return fold(std::make_unique<Subscript>(
          token.line, std::move(node),
          std::make_unique<Literal>(attribute.line, integer_value(attribute))));
    }
    std::vector<ExprPtr> parts(3);
    bool is_slice = false;
    ExprPtr key = parse_subscribed(parts, is_slice);
    if (at_operator(","))
      refuse(token.line, "a subscript with several keys (x[a, b])", "x[key], x[a:b:c]");
    expect_operator("]");
    if (is_slice)
      return fold(std::make_unique<Slice>(token.line, std::move(node), std::move(parts[0]),
                                          std::move(parts[1]), std::move(parts[2])));
    return fold(std::make_unique<Subscript>(token.line, std::move(node), std::move(key)));
  }

  // A key, or a slice's start:stop:step into `parts` (each may stay empty).
  ExprPtr parse_subscribed(std::vector<ExprPtr>& parts, bool& is_slice) {
    if (!at_operator(":")) {
      ExprPtr key = parse_expression(true);
      if (!at_operator(":")) return key;
      parts[0] = std::move(key);
    }
    is_slice = true;
    next();  // :
    if (!at_operator(":") && !at_operator("]") && !at_operator(","))
      parts[1] = parse_expression(true);
    if (skip_operator(":")) {
      if (!at_operator("]") && !at_operator(",")) parts[2] = parse_expression(true);
    }
    return nullptr;
  }

  // (args, name=value, ...) after the '('.
  void parse_call_arguments(std::vector<ExprPtr>& args, KeywordExprs& keywords) {
    const int line = next().line;  // (
    bool require_comma = false;
    while (!at_operator(")")) {
      if (require_comma) {
        expect_operator(",");
        if (at_operator(")")) break;
      }
      if (at_operator("*") || at_operator("**"))
        refuse(line, "*args or **kwargs in a call", "positional and keyword arguments");
      if (at(Kind::kName) && look().kind == Kind::kOperator && look().text == "=") {
        std::string key = next().text;
        next();  // =
        keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!keywords.empty()) fail(line, "a positional argument after a keyword argument");
        args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_operator(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    const int line = current().line;
    if (const auto* attribute = dynamic_cast<const Attribute*>(callee.get())) {
      if (!is_supported_method(attribute->name))
        refuse(line, "the method '" + attribute->name + "'", supported_methods());
    }
    std::vector<ExprPtr> args;
    KeywordExprs keywords;
    parse_call_arguments(args, keywords);
    return fold(
        std::make_unique<Call>(line, std::move(callee), std::move(args), std::move(keywords)));
  }

  // A filter or test name; dotted names are jinja2's, and none of llmpi's.
  std::string parse_callable_name() {
    std::string name = expect(Kind::kName, "a name").text;
    while (skip_operator(".")) name += "." + expect(Kind::kName, "a name").text;
    return name;
  }

  ExprPtr parse_filter(ExprPtr node) {
    while (at_operator("|")) {
      next();
      const int line = current().line;
      const std::string name = parse_callable_name();
      if (!is_supported_filter(name))
        refuse(line, "the filter '" + name + "'", supported_filters());
      std::vector<ExprPtr> args;
      KeywordExprs keywords;
      if (at_operator("(")) parse_call_arguments(args, keywords);
      node = fold(std::make_unique<FilterCall>(line, std::move(node), name, std::move(args),
                                               std::move(keywords)));
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    const int line = next().line;  // is
    const bool negated = skip_name("not");
    const std::string name = parse_callable_name();
    if (!is_supported_test(name)) refuse(line, "the test '" + name + "'", supported_tests());
    std::vector<ExprPtr> args;
    if (at_operator("(")) {
      KeywordExprs keywords;
      parse_call_arguments(args, keywords);
      if (!keywords.empty()) refuse(line, "keyword arguments to a test", "positional arguments");
    } else if (takes_bare_test_argument()) {
      if (at_name("is")) fail(line, "tests cannot be chained with 'is'");
      args.push_back(parse_postfix(parse_primary()));
    }
    return fold(std::make_unique<TestCall>(line, std::move(node), name, std::move(args), negated));
  }

  // `x is divisibleby 3`: jinja2 takes one argument without parentheses.
  bool takes_bare_test_argument() const {
    if (at(Kind::kName))
      return current().text != "else" && current().text != "or" && current().text != "and";
    return at(Kind::kString) || at(Kind::kInteger) || at(Kind::kFloat) || at_operator("[") ||
           at_operator("{");
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  const std::string& where_;
  int loop_depth_ = 0;
  int nesting_ = 0;
};

}  // namespace

Body parse_template(std::vector<Token> tokens, const std::string& where) {
  return Parser(std::move(tokens), where).parse();
}

std::string supported_statements() {
  return "if, elif, else, for, break, continue, set, generation";
}

}  // namespace llmpi::jinja
