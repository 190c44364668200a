// Model-written code is contained: each hostile program below runs, is stopped or fails, and
// leaves nothing behind. Runs wherever the kernel allows namespaces (root, or unprivileged
// user namespaces); elsewhere the sandbox reports a setup error, which the test shows.
#include <catch2/catch.hpp>
#include <filesystem>

#include "llmpi/eval/sandbox.hpp"

using namespace llmpi;

namespace {
SandboxResult run(const std::string& program, double wall = 10.0) {
  SandboxLimits limits;
  limits.wall_seconds = wall;
  limits.cpu_seconds = 5.0;
  limits.memory_bytes = std::int64_t{512} << 20;
  const SandboxResult result = run_python_sandboxed(program, limits);
  INFO("status " << status_name(result.status) << " exit " << result.exit_code << " detail "
                 << result.detail << " output " << result.output);
  REQUIRE(result.status != SandboxResult::Status::sandbox_error);
  return result;
}
}  // namespace

TEST_CASE("passing and failing programs are told apart", "[eval][sandbox]") {
  const auto ok = run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('fine')\n");
  CHECK(ok.status == SandboxResult::Status::passed);
  CHECK(ok.output == "fine\n");
  const auto wrong = run("assert 1 + 1 == 3, 'arithmetic'\n");
  CHECK(wrong.status == SandboxResult::Status::failed);
  CHECK(wrong.output.find("AssertionError: arithmetic") != std::string::npos);
}

TEST_CASE("a program that never ends is killed at the wall-clock limit", "[eval][sandbox]") {
  const auto result = run("while True:\n    pass\n", 2.0);
  CHECK((result.status == SandboxResult::Status::timed_out ||
         result.status == SandboxResult::Status::killed));
  CHECK(result.wall_seconds < 8.0);
}

TEST_CASE("allocating 10 GB fails inside the memory limit", "[eval][sandbox]") {
  const auto result = run("x = bytearray(10 * 1024 ** 3)\n");
  CHECK(result.status == SandboxResult::Status::failed);
  CHECK(result.output.find("MemoryError") != std::string::npos);
}

TEST_CASE("forking processes is contained and nothing outlives the run", "[eval][sandbox]") {
  const auto result =
      run("import os, time\n"
          "children = 0\n"
          "for _ in range(500):\n"
          "    try:\n"
          "        if os.fork() == 0:\n"
          "            time.sleep(60)\n"
          "            os._exit(0)\n"
          "        children += 1\n"
          "    except OSError:\n"
          "        break\n"
          "print('forked', children)\n"
          "assert children < 500, 'no process limit'\n",
          5.0);
  CHECK(result.status == SandboxResult::Status::passed);  // the limit stopped the fork loop
  CHECK(result.wall_seconds < 5.0);  // the sleeping children did not keep it alive
}

TEST_CASE("there is no network", "[eval][sandbox]") {
  const auto result =
      run("import socket\n"
          "s = socket.socket()\n"
          "s.settimeout(2)\n"
          "s.connect(('1.1.1.1', 80))\n");
  CHECK(result.status == SandboxResult::Status::failed);
  CHECK(result.output.find("OSError") != std::string::npos);
}

TEST_CASE("writes outside the private working directory fail and leave no trace",
          "[eval][sandbox]") {
  const auto target = std::filesystem::current_path() / "llmpi-sandbox-escape.txt";
  std::filesystem::remove(target);
  const auto result =
      run("open(" + std::string("'") + target.string() + "', 'w').write('escaped')\n");
  CHECK(result.status == SandboxResult::Status::failed);
  CHECK_FALSE(std::filesystem::exists(target));
  // The working directory and /tmp are writable, and private.
  const auto local =
      run("open('here.txt', 'w').write('ok')\n"
          "open('/tmp/scratch.txt', 'w').write('ok')\n"
          "print(open('here.txt').read())\n");
  CHECK(local.status == SandboxResult::Status::passed);
  CHECK_FALSE(std::filesystem::exists("/tmp/scratch.txt"));
}
