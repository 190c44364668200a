#pragma once

// The parsed form of a chat template: expressions and statements of the jinja2 subset llmpi
// supports. jinja_parser.cpp builds them; jinja_render.cpp gives them their meaning.
// Private to src/tokenizer/.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja_value.hpp"

namespace llmpi::jinja {

class Context;  // jinja_render.hpp

struct Expr {
  explicit Expr(int line_number) : line(line_number) {}
  virtual ~Expr() = default;
  // The value, with this expression's line added to an error raised inside it.
  Value evaluate(Context& context) const;

  int line;
  int depth = 1;  // of the expression tree below it, this node included

 protected:
  virtual Value eval(Context& context) const = 0;
  // Records a child (or several) for `depth`; absent children count for nothing.
  void below(const std::unique_ptr<Expr>& child) {
    if (child && child->depth + 1 > depth) depth = child->depth + 1;
  }
  void below(const std::vector<std::unique_ptr<Expr>>& children) {
    for (const auto& child : children) below(child);
  }
  void below(const std::vector<std::pair<std::string, std::unique_ptr<Expr>>>& children) {
    for (const auto& child : children) below(child.second);
  }
};
using ExprPtr = std::unique_ptr<Expr>;
using KeywordExprs = std::vector<std::pair<std::string, ExprPtr>>;

struct Literal : Expr {
  Literal(int line_number, Value v) : Expr(line_number), value(std::move(v)) {}
  Value eval(Context& context) const override;
  Value value;
};

struct Name : Expr {
  Name(int line_number, std::string n) : Expr(line_number), name(std::move(n)) {}
  Value eval(Context& context) const override;
  std::string name;
};

struct SequenceLiteral : Expr {
  SequenceLiteral(int line_number, std::vector<ExprPtr> i, bool t)
      : Expr(line_number), items(std::move(i)), tuple(t) {
    below(items);
  }
  Value eval(Context& context) const override;
  std::vector<ExprPtr> items;
  bool tuple;
};

struct DictLiteral : Expr {
  using Entries = std::vector<std::pair<ExprPtr, ExprPtr>>;
  DictLiteral(int line_number, Entries e) : Expr(line_number), entries(std::move(e)) {
    for (const auto& [key, value] : entries) {
      below(key);
      below(value);
    }
  }
  Value eval(Context& context) const override;
  Entries entries;
};

// object.name
struct Attribute : Expr {
  Attribute(int line_number, ExprPtr o, std::string n)
      : Expr(line_number), object(std::move(o)), name(std::move(n)) {
    below(object);
  }
  Value eval(Context& context) const override;
  ExprPtr object;
  std::string name;
};

// object[key]
struct Subscript : Expr {
  Subscript(int line_number, ExprPtr o, ExprPtr k)
      : Expr(line_number), object(std::move(o)), key(std::move(k)) {
    below(object);
    below(key);
  }
  Value eval(Context& context) const override;
  ExprPtr object;
  ExprPtr key;
};

// object[start:stop:step], each part optional
struct Slice : Expr {
  Slice(int line_number, ExprPtr o, ExprPtr a, ExprPtr b, ExprPtr c)
      : Expr(line_number),
        object(std::move(o)),
        start(std::move(a)),
        stop(std::move(b)),
        step(std::move(c)) {
    below(object);
    below(start);
    below(stop);
    below(step);
  }
  Value eval(Context& context) const override;
  ExprPtr object, start, stop, step;
};

struct Call : Expr {
  Call(int line_number, ExprPtr c, std::vector<ExprPtr> a, KeywordExprs k)
      : Expr(line_number), callee(std::move(c)), args(std::move(a)), keywords(std::move(k)) {
    below(callee);
    below(args);
    below(keywords);
  }
  Value eval(Context& context) const override;
  ExprPtr callee;
  std::vector<ExprPtr> args;
  KeywordExprs keywords;
};

// input | name(args)
struct FilterCall : Expr {
  FilterCall(int line_number, ExprPtr i, std::string n, std::vector<ExprPtr> a, KeywordExprs k)
      : Expr(line_number),
        input(std::move(i)),
        name(std::move(n)),
        args(std::move(a)),
        keywords(std::move(k)) {
    below(input);
    below(args);
    below(keywords);
  }
  Value eval(Context& context) const override;
  ExprPtr input;
  std::string name;
  std::vector<ExprPtr> args;
  KeywordExprs keywords;
};

// input is [not] name(args)
struct TestCall : Expr {
  TestCall(int line_number, ExprPtr i, std::string n, std::vector<ExprPtr> a, bool negate)
      : Expr(line_number),
        input(std::move(i)),
        name(std::move(n)),
        args(std::move(a)),
        negated(negate) {
    below(input);
    below(args);
  }
  Value eval(Context& context) const override;
  ExprPtr input;
  std::string name;
  std::vector<ExprPtr> args;
  bool negated;
};

enum class UnaryOp { kNot, kNegate, kPositive };

struct Unary : Expr {
  Unary(int line_number, UnaryOp o, ExprPtr x) : Expr(line_number), op(o), operand(std::move(x)) {
    below(operand);
  }
  Value eval(Context& context) const override;
  UnaryOp op;
  ExprPtr operand;
};

struct Binary : Expr {
  Binary(int line_number, BinaryOp o, ExprPtr a, ExprPtr b)
      : Expr(line_number), op(o), left(std::move(a)), right(std::move(b)) {
    below(left);
    below(right);
  }
  Value eval(Context& context) const override;
  BinaryOp op;
  ExprPtr left, right;
};

// a ~ b ~ c: the str() of each, joined
struct Concat : Expr {
  Concat(int line_number, std::vector<ExprPtr> p) : Expr(line_number), parts(std::move(p)) {
    below(parts);
  }
  Value eval(Context& context) const override;
  std::vector<ExprPtr> parts;
};

// `and`/`or` give one of their operands, as in Python.
struct Logical : Expr {
  Logical(int line_number, bool is_and, ExprPtr a, ExprPtr b)
      : Expr(line_number), conjunction(is_and), left(std::move(a)), right(std::move(b)) {
    below(left);
    below(right);
  }
  Value eval(Context& context) const override;
  bool conjunction;
  ExprPtr left, right;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

// a < b <= c: chained as in Python
struct Compare : Expr {
  Compare(int line_number, ExprPtr f, std::vector<std::pair<CompareOp, ExprPtr>> r)
      : Expr(line_number), first(std::move(f)), rest(std::move(r)) {
    below(first);
    for (const auto& operand : rest) below(operand.second);
  }
  Value eval(Context& context) const override;
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// then if test else otherwise (otherwise optional)
struct Conditional : Expr {
  Conditional(int line_number, ExprPtr t, ExprPtr a, ExprPtr b)
      : Expr(line_number), test(std::move(t)), then(std::move(a)), otherwise(std::move(b)) {
    below(test);
    below(then);
    below(otherwise);
  }
  Value eval(Context& context) const override;
  ExprPtr test, then, otherwise;
};

// What a statement leaves its enclosing loop to do.
enum class Flow { kNext, kBreak, kContinue };

struct Stmt {
  explicit Stmt(int line_number) : line(line_number) {}
  virtual ~Stmt() = default;
  virtual Flow run(Context& context) const = 0;
  int line;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(int line_number, std::string t) : Stmt(line_number), text(std::move(t)) {}
  Flow run(Context& context) const override;
  std::string text;
};

// {{ expr }}
struct OutputStmt : Stmt {
  OutputStmt(int line_number, ExprPtr e) : Stmt(line_number), expr(std::move(e)) {}
  Flow run(Context& context) const override;
  ExprPtr expr;
};

struct IfStmt : Stmt {
  using Branches = std::vector<std::pair<ExprPtr, Body>>;
  IfStmt(int line_number, Branches b, Body o)
      : Stmt(line_number), branches(std::move(b)), otherwise(std::move(o)) {}
  Flow run(Context& context) const override;
  Branches branches;  // if and elifs
  Body otherwise;
};

// Names a for loop or set binds: one name, or several unpacked from a sequence.
struct Targets {
  std::vector<std::string> names;
  bool unpack = false;
};

struct ForStmt : Stmt {
  ForStmt(int line_number, Targets t, ExprPtr i, ExprPtr f, Body b, Body o)
      : Stmt(line_number),
        targets(std::move(t)),
        iterable(std::move(i)),
        filter(std::move(f)),
        body(std::move(b)),
        otherwise(std::move(o)) {}
  Flow run(Context& context) const override;
  Targets targets;
  ExprPtr iterable;
  ExprPtr filter;  // {% for x in xs if cond %}, optional
  Body body;
  Body otherwise;  // {% else %}: runs when nothing was iterated
};

// {% set names = value %} or {% set ns.attribute = value %}
struct SetStmt : Stmt {
  SetStmt(int line_number, Targets t, std::string a, ExprPtr v)
      : Stmt(line_number), targets(std::move(t)), attribute(std::move(a)), value(std::move(v)) {}
  Flow run(Context& context) const override;
  Targets targets;        // with `attribute`: the one namespace name
  std::string attribute;  // empty unless ns.attribute
  ExprPtr value;
};

// {% set name %}body{% endset %}
struct SetBlockStmt : Stmt {
  SetBlockStmt(int line_number, std::string t, std::string a, Body b)
      : Stmt(line_number), target(std::move(t)), attribute(std::move(a)), body(std::move(b)) {}
  Flow run(Context& context) const override;
  std::string target;
  std::string attribute;
  Body body;
};

// {% break %} and {% continue %}
struct LoopControlStmt : Stmt {
  LoopControlStmt(int line_number, Flow f) : Stmt(line_number), flow(f) {}
  Flow run(Context& context) const override;
  Flow flow;
};

// A body rendered as is: transformers' {% generation %} block.
struct BlockStmt : Stmt {
  BlockStmt(int line_number, Body b) : Stmt(line_number), body(std::move(b)) {}
  Flow run(Context& context) const override;
  Body body;
};

}  // namespace llmpi::jinja
