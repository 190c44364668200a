#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmpi/eval/answer_extraction.hpp"

using namespace llmpi;

TEST_CASE("numbers are normalised before comparison", "[eval][gsm8k]") {
  CHECK(normalize_number("1,234") == "1234");
  CHECK(normalize_number("$1,234.50") == "1234.5");
  CHECK(normalize_number("3.") == "3");
  CHECK(normalize_number("3.000") == "3");
  CHECK(normalize_number("007") == "7");
  CHECK(normalize_number("0.50") == "0.5");
  CHECK(normalize_number("-0") == "0");
  CHECK(normalize_number("-12") == "-12");
  CHECK(normalize_number("18 dollars") == "18");
  CHECK(normalize_number("no digits").empty());
}

TEST_CASE("the model's answer is found where GSM8K-style completions put it", "[eval][gsm8k]") {
  CHECK(extract_numeric_answer("She pays 3 + 4 = 7 dollars.\n#### 7") == "7");
  CHECK(extract_numeric_answer("#### 1,000\nThen I said 5") == "1000");
  CHECK(extract_numeric_answer("So the answer is $42.00. Done in 3 steps.") == "42");
  CHECK(extract_numeric_answer("The Answer Is: -3") == "-3");
  CHECK(extract_numeric_answer("First 12, then 15, finally 18.") == "18");
  CHECK(extract_numeric_answer("I cannot tell.") == std::nullopt);
  CHECK(extract_numeric_answer("#### no number here, but 9 before") == "9");
  CHECK(answers_match("1,000", "1000"));
  CHECK(answers_match("18.0", "18"));
  CHECK_FALSE(answers_match("18", "81"));
  CHECK(answers_match(" yes ", "yes"));
}

TEST_CASE("every GSM8K reference answer in the test split parses", "[eval][gsm8k]") {
  std::ifstream file(LLMPI_TASKS_DIR "/data/gsm8k/test.jsonl");
  REQUIRE(file);
  std::size_t count = 0;
  for (std::string line; std::getline(file, line);) {
    const auto record = nlohmann::json::parse(line);
    const auto reference = gsm8k_reference(record.at("answer").get<std::string>());
    INFO(record.at("answer").get<std::string>());
    REQUIRE(reference.has_value());
    // The worked solution, used as a completion, yields its own reference.
    CHECK(extract_numeric_answer(record.at("answer").get<std::string>()) == reference);
    ++count;
  }
  CHECK(count == 1319);
}

TEST_CASE("lm-evaluation-harness's GSM8K filters and exact match", "[eval][gsm8k]") {
  using enum HarnessGsm8kFilter;
  const std::string completion = "She pays $1,200 on day 2.\nThen 3 more.\n#### 1,203.\n#### 7";
  CHECK(harness_gsm8k_answer(completion, strict_match) == "1,203.");  // the first ####
  CHECK(harness_gsm8k_answer(completion, flexible_extract) == "7");   // the last number
  CHECK(harness_gsm8k_answer("The answer is $18.", flexible_extract) == "$18.");
  CHECK(harness_gsm8k_answer("no numbers at all", strict_match) == "[invalid]");
  CHECK(harness_gsm8k_answer("no numbers at all", flexible_extract) == "[invalid]");
  CHECK(harness_gsm8k_answer("count 5 then -3", flexible_extract) == "-3");
  // Edge cases whose answers are Python's re.findall on the harness's two patterns.
  struct Case {
    const char* completion;
    const char* strict;
    const char* flexible;
  };
  for (const Case& c :
       {Case{"#### -x #### -5.", "-5.", "-5."}, Case{"a -$ b", "[invalid]", "[invalid]"},
        Case{"-$5 and -5", "[invalid]", "-5"}, Case{"x -1, $.", "[invalid]", "$."},
        Case{"####  12", "[invalid]", "12"}, Case{"#### ,", ",", "[invalid]"},
        Case{"-.", "[invalid]", "[invalid]"}, Case{"3-4", "[invalid]", "-4"},
        Case{"--7", "[invalid]", "-7"}, Case{"7$$", "[invalid]", "7$$"},
        Case{"#### 12\n#### 13", "12", "13"}, Case{"1.2.3-", "[invalid]", "1.2.3"},
        Case{"", "[invalid]", "[invalid]"}, Case{"-", "[invalid]", "[invalid]"}}) {
    INFO(c.completion);
    CHECK(harness_gsm8k_answer(c.completion, strict_match) == c.strict);
    CHECK(harness_gsm8k_answer(c.completion, flexible_extract) == c.flexible);
  }
  // The reference is the whole answer: everything up to the last "#### " goes.
  CHECK(harness_gsm8k_normalised("Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18") == "18");
  CHECK(harness_gsm8k_normalised("$1,203.") == "1203");
  CHECK(harness_gsm8k_normalised("18.\n") == "18\n");     // Python's "\\.$" before a final newline
  CHECK(harness_gsm8k_normalised("1203.0") == "1203.0");  // no number normalisation
  CHECK(harness_gsm8k_normalised("ABC") == "abc");
}
