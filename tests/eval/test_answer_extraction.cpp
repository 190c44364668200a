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
