// Chat templates against transformers' apply_chat_template on the fixtures written by
// scripts/make_chat_template_fixtures.py, the refusals of what llmpi does not implement, and
// load_chat_template on checkpoint directories written here.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/tokenizer/chat_template.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
using llmpi::testing::fixtures_dir;
using llmpi::testing::read_text;
using llmpi::testing::TempDir;
using llmpi::testing::write_text;
using Json = nlohmann::json;

namespace {

const std::filesystem::path kFixtures = fixtures_dir() / "chat_templates";

std::optional<std::string> optional_text(const Json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::string>();
}

std::vector<ChatMessage> messages_of(const Json& messages) {
  std::vector<ChatMessage> out;
  for (const Json& m : messages)
    out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

// Renders one fixture case; returns what differs from transformers, empty when nothing does.
std::string compare_case(const ChatTemplate& chat_template, const Json& c) {
  const auto messages = messages_of(c.at("messages"));
  const bool add_generation_prompt = c.at("add_generation_prompt").get<bool>();
  const std::string what = c.at("messages").dump() + (add_generation_prompt ? " +gen" : "");
  std::string rendered;
  try {
    rendered = chat_template.render(messages, add_generation_prompt);
  } catch (const Error& e) {
    if (!c.contains("error")) return what + "\n  llmpi failed: " + e.what();
    const std::string error = c.at("error").get<std::string>();
    // The template's own raise_exception: its message must come through.
    const std::string raised_prefix = "TemplateError: ";
    if (c.at("raised").get<bool>() &&
        std::string(e.what()).find("raised an error: " + error.substr(raised_prefix.size())) ==
            std::string::npos)
      return what + "\n  llmpi: " + e.what() + "\n  hf:    " + error;
    return "";
  }
  if (c.contains("error"))
    return what + "\n  llmpi rendered " + Json(rendered).dump() +
           "\n  hf failed: " + c.at("error").get<std::string>();
  const std::string expected = c.at("expected").get<std::string>();
  if (rendered == expected) return "";
  return what + "\n  llmpi " + Json(rendered).dump() + "\n  hf    " + Json(expected).dump();
}

// Every case of every template in one fixture file; returns the number of cases.
std::size_t check_fixture(const std::string& file) {
  const Json fixture = Json::parse(read_text(kFixtures / file));
  std::size_t cases = 0;
  for (const Json& entry : fixture.at("templates")) {
    const std::string name = entry.at("name").get<std::string>();
    INFO(file << ": template " << name);
    const ChatTemplate chat_template(entry.at("template").get<std::string>(), name,
                                     optional_text(entry.at("bos_token")),
                                     optional_text(entry.at("eos_token")));
    for (const Json& c : entry.at("cases")) {
      CHECK(compare_case(chat_template, c) == "");
      ++cases;
    }
  }
  return cases;
}

// Renders `text` on one user message.
std::string render_one(const std::string& text, const std::string& content = "hi") {
  const ChatTemplate chat_template(text, "t.jinja", "<s>", "</s>");
  const std::vector<ChatMessage> messages = {{"user", content}};
  return chat_template.render(messages, false);
}

void write_json(const std::filesystem::path& path, const Json& json) {
  write_text(path, json.dump(2));
}

}  // namespace

TEST_CASE("Chat templates render as transformers renders them, byte for byte",
          "[tokenizer][chat-template]") {
  for (const char* file : {"smollm2.json", "llama2_chat.json", "codellama_70b.json", "chatml.json",
                           "other_models.json", "jinja_semantics.json"}) {
    SECTION(file) {
      CHECK(check_fixture(file) > 0);
    }
  }
}

TEST_CASE("The fixtures' SmolLM2 template is the checkpoint's own", "[tokenizer][chat-template]") {
  const std::filesystem::path model_dir = LLMPI_SMOLLM2_DIR;
  if (!std::filesystem::exists(model_dir / "tokenizer_config.json")) {
    WARN("skipped: " << model_dir << " not fetched (scripts/fetch_smollm2.sh)");
    return;
  }
  const ChatTemplate loaded = load_chat_template(model_dir);
  const Json fixture = Json::parse(read_text(kFixtures / "smollm2.json")).at("templates").at(0);
  CHECK(loaded.text() == fixture.at("template").get<std::string>());
  CHECK(loaded.bos_token() == optional_text(fixture.at("bos_token")));
  CHECK(loaded.eos_token() == optional_text(fixture.at("eos_token")));
  CHECK_THAT(loaded.where(), Contains("tokenizer_config.json"));
}

TEST_CASE("Chat templates outside llmpi's subset are refused by construct and line",
          "[tokenizer][chat-template]") {
  struct Refusal {
    const char* text;
    const char* message;
  };
  const std::vector<Refusal> refusals = {
      {"{% macro m() %}x{% endmacro %}", "t.jinja:1: chat template uses the statement 'macro'"},
      {"line one\n{% include 'other.jinja' %}",
       "t.jinja:2: chat template uses the statement 'include'"},
      {"a\nb\n{{ messages | map(attribute='role') | join }}",
       "t.jinja:3: chat template uses the filter 'map'"},
      {"{{ messages | tojson | wordcount }}",
       "uses the filter 'wordcount', which llmpi does not support (supported: trim,"},
      {"{{ x is sameas y }}", "uses the test 'sameas'"},
      // Markup escapes what is added to it: not plain text, so refused.
      {"{{ '<b>' | safe }}", "uses the filter 'safe'"},
      {"{{ 'a {}'.format(1) }}", "uses the method 'format'"},
      {"{% set d = strftime_now('%d %b %Y') %}", "uses the function 'strftime_now'"},
      {"{% if cycler is defined %}{% endif %}", "uses the function 'cycler'"},
      {"{% raw %}{{ x }}{% endraw %}", "uses the statement 'raw'"},
      {"{% for m in messages recursive %}{% endfor %}", "uses a recursive for loop"},
      {"{{ range(*[1, 2]) }}", "uses *args or **kwargs"},
      {"{% with x = 1 %}{% endwith %}", "uses the statement 'with'"},
      {"{% set x | upper %}a{% endset %}", "uses a filter on a {% set %} block"},
      {"{{ x[1, 2] }}", "uses a subscript with several keys"},
  };
  for (const auto& [text, message] : refusals) {
    INFO(text);
    CHECK_THROWS_WITH(render_one(text), Contains(message));
  }
}

TEST_CASE("Malformed chat templates are syntax errors with their line",
          "[tokenizer][chat-template]") {
  const std::vector<std::pair<const char*, const char*>> errors = {
      {"a\n{% if x %}never closed",
       "t.jinja:2: chat template syntax error: the {% if %} here is never closed"},
      {"{{ x", "missing '}}'"},
      {"{% endif %}", "'endif' without the statement"},
      {"{% for m in messages %}{% endif %}", "'endif' without"},
      {"{% break %}", "'break' outside a for loop"},
      {"{{ 0x10 }}", "decimal integer literals only"},
      {"{{ 'unterminated }}", "unterminated string literal"},
      {"{# open comment", "missing '#}'"},
      {"{{ (1 }}", "expected ')'"},
      {"{{ a b }}", "expected '}}'"},
      {"{% frobnicate %}", "unknown statement 'frobnicate'"},
      {"{{ 'x' is defined is defined }}", "tests cannot be chained"},
  };
  for (const auto& [text, message] : errors) {
    INFO(text);
    CHECK_THROWS_WITH(render_one(text), Contains(message));
  }
  // Deeper than jinja2 can compile; refused before it could exhaust the stack.
  const std::string deep = "{{ " + std::string(300, '(') + "x" + std::string(300, ')') + " }}";
  CHECK_THROWS_WITH(render_one(deep), Contains("nests too deeply"));
}

TEST_CASE("Rendering errors name the template's line and keep raise_exception's message",
          "[tokenizer][chat-template]") {
  CHECK_THROWS_WITH(render_one("a\n{{ raise_exception('roles must alternate') }}"),
                    Contains("t.jinja:2: chat template raised an error: roles must alternate"));
  CHECK_THROWS_WITH(render_one("\n\n{{ nope + 'x' }}"),
                    Contains("t.jinja:3: chat template error: 'nope' is undefined"));
  // What llmpi cannot write exactly as Python would, it refuses rather than approximates.
  CHECK_THROWS_WITH(render_one("{{ messages }}", "é"), Contains("non-ASCII"));
  CHECK(render_one("{{ messages }}") == "[{'role': 'user', 'content': 'hi'}]");
  CHECK_THROWS_WITH(render_one("{{ messages[0].content.upper() }}", "straße"),
                    Contains("ASCII text only"));
  CHECK_THROWS_WITH(render_one("{{ 'x' * 100000000 }}"), Contains("limit"));
  CHECK_THROWS_WITH(render_one("{{ range(200000) | length }}"), Contains("MAX_RANGE"));
  CHECK_THROWS_WITH(render_one("{{ 9223372036854775807 + 1 }}"), Contains("overflow"));

  const ChatTemplate chat_template("{{ messages | length }}", "t.jinja", std::nullopt,
                                   std::nullopt);
  CHECK_THROWS_WITH(chat_template.render({}, true), Contains("no messages"));
  const std::vector<ChatMessage> invalid = {{"user", "ok"}, {"assistant", "\xff"}};
  CHECK_THROWS_WITH(chat_template.render(invalid, true), Contains("message 1's content"));
}

TEST_CASE("A template sees what transformers passes it", "[tokenizer][chat-template]") {
  const std::vector<ChatMessage> messages = {{"user", "hi"}};
  const ChatTemplate with_tokens(
      "{{ bos_token }}|{{ eos_token }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|"
      "{{ unk_token is defined }}",
      "t", "<s>", "</s>");
  CHECK(with_tokens.render(messages, true) == "<s>|</s>|None|None|True|False");
  const ChatTemplate without_tokens("{{ bos_token is defined }}{{ bos_token }}", "t", std::nullopt,
                                    std::nullopt);
  CHECK(without_tokens.render(messages, false) == "False");
  // Undefined, not "": concatenation fails as in jinja2.
  const ChatTemplate concatenates("{{ bos_token + 'x' }}", "t", std::nullopt, std::nullopt);
  CHECK_THROWS_WITH(concatenates.render(messages, false), Contains("'bos_token' is undefined"));
}

TEST_CASE("load_chat_template reads a checkpoint directory as transformers does",
          "[tokenizer][chat-template]") {
  TempDir dir("chat_template");
  const auto config = dir.path() / "tokenizer_config.json";
  const std::string text =
      "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}";
  const std::vector<ChatMessage> messages = {{"user", "hi"}};

  SECTION("a string template and AddedToken objects") {
    write_json(config, {{"chat_template", text},
                        {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                        {"eos_token", "</s>"},
                        {"added_tokens_decoder", Json::object()}});
    const ChatTemplate loaded = load_chat_template(dir.path());
    CHECK(loaded.render(messages, false) == "<s>hi</s>");
    CHECK(loaded.where() == config.string() + " \"chat_template\"");
  }
  SECTION("a list of named templates: the default one") {
    write_json(config, {{"chat_template",
                         {{{"name", "tool_use"}, {"template", "tools"}},
                          {{"name", "default"}, {"template", text}}}},
                        {"bos_token", nullptr},
                        {"eos_token", "</s>"}});
    CHECK(load_chat_template(dir.path()).render(messages, false) == "hi</s>");
  }
  SECTION("a list without a default is refused, naming the templates") {
    write_json(config, {{"chat_template", {{{"name", "rag"}, {"template", "x"}}}}});
    CHECK_THROWS_WITH(load_chat_template(dir.path()),
                      Contains("none named \"default\" (it has: rag)"));
  }
  SECTION("chat_template.jinja beside the config takes priority") {
    write_json(config, {{"chat_template", "config"}, {"eos_token", "</s>"}});
    write_text(dir.path() / "chat_template.jinja", "file {{ eos_token }}\n");
    const ChatTemplate loaded = load_chat_template(dir.path());
    CHECK(loaded.render(messages, false) == "file </s>");
    CHECK_THAT(loaded.where(), Contains("chat_template.jinja"));
  }
  SECTION("special_tokens_map.json decides for configs without added_tokens_decoder") {
    write_json(config, {{"chat_template", text}, {"bos_token", "<old>"}, {"eos_token", "</s>"}});
    write_json(dir.path() / "special_tokens_map.json",
               {{"bos_token", {{"content", "<new>"}}}, {"unk_token", "<unk>"}});
    CHECK(load_chat_template(dir.path()).render(messages, false) == "<new>hi</s>");
  }
  SECTION("the other special tokens reach the template by name, as transformers passes them") {
    write_json(config,
               {{"chat_template", "{{ pad_token }}|{{ unk_token }}|{{ sep_token is defined }}"},
                {"pad_token", {{"content", "<pad>"}}},
                {"unk_token", "<unk>"},
                {"added_tokens_decoder", Json::object()}});
    CHECK(load_chat_template(dir.path()).render(messages, false) == "<pad>|<unk>|False");
  }
  SECTION("a checkpoint without a chat template is refused, naming the file") {
    write_json(config, {{"bos_token", "<s>"}});
    CHECK_THROWS_WITH(load_chat_template(dir.path()),
                      Contains(config.string() + " has no \"chat_template\"") &&
                          Contains("the checkpoint has no chat template"));
  }
  SECTION("a chat_template of the wrong type is refused, naming the field") {
    write_json(config, {{"chat_template", 3}});
    CHECK_THROWS_WITH(load_chat_template(dir.path()),
                      Contains(config.string() + " \"chat_template\" must be a string"));
  }
  SECTION("a bos_token of the wrong type is refused, naming the field") {
    write_json(config, {{"chat_template", text}, {"bos_token", 1}});
    CHECK_THROWS_WITH(load_chat_template(dir.path()), Contains("\"bos_token\" must be a string"));
  }
  SECTION("a template that does not parse names its file and line") {
    write_json(config, {{"chat_template", "ok\n{% macro m() %}{% endmacro %}"}});
    CHECK_THROWS_WITH(load_chat_template(dir.path()),
                      Contains(config.string() + " \"chat_template\":2: chat template uses the "
                                                 "statement 'macro'"));
  }
  SECTION("no tokenizer_config.json") {
    CHECK_THROWS_WITH(load_chat_template(dir.path()), Contains("tokenizer_config.json"));
  }
}
