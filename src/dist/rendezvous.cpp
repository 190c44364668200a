#include "llmpi/dist/rendezvous.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/core/text.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

namespace {

constexpr int kArriveTag = 7301;
constexpr int kPayloadTag = 7302;
constexpr std::size_t kMaxPayload = 1020;  // an NCCL unique id is 128 bytes

using Clock = std::chrono::steady_clock;

// Polls `requests` until all complete or `deadline`; returns which are still pending (those
// are cancelled and completed, so no buffer stays in MPI's hands).
std::vector<std::size_t> wait_until(std::vector<MPI_Request>& requests,
                                    Clock::time_point deadline) {
  while (true) {
    int done = 0;
    mpi_check(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
        "MPI_Testall");
    if (done) return {};
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i] == MPI_REQUEST_NULL) continue;
    int flag = 0;
    mpi_check(MPI_Test(&requests[i], &flag, MPI_STATUS_IGNORE), "MPI_Test");
    if (flag) continue;
    pending.push_back(i);
    MPI_Cancel(&requests[i]);
    MPI_Wait(&requests[i], MPI_STATUS_IGNORE);
  }
  return pending;
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(timeout.count()) / 1000.0);
  return text;
}

}  // namespace

std::string rendezvous(MPI_Comm group, const std::string& payload,
                       std::chrono::milliseconds timeout, const std::string& what,
                       std::span<const std::string> world_hosts) {
  int rank = 0;
  int size = 1;
  mpi_check(MPI_Comm_rank(group, &rank), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(group, &size), "MPI_Comm_size");
  if (payload.size() > kMaxPayload) throw Error(what + ": rendezvous payload too large");

  // Group rank -> "rank W (host H)" in world terms, for the messages.
  std::vector<int> group_ranks(static_cast<std::size_t>(size));
  std::vector<int> world_ranks(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) group_ranks[static_cast<std::size_t>(r)] = r;
  MPI_Group group_handle = MPI_GROUP_NULL;
  MPI_Group world_handle = MPI_GROUP_NULL;
  mpi_check(MPI_Comm_group(group, &group_handle), "MPI_Comm_group");
  mpi_check(MPI_Comm_group(MPI_COMM_WORLD, &world_handle), "MPI_Comm_group");
  mpi_check(MPI_Group_translate_ranks(group_handle, size, group_ranks.data(), world_handle,
                                      world_ranks.data()),
            "MPI_Group_translate_ranks");
  MPI_Group_free(&group_handle);
  MPI_Group_free(&world_handle);
  auto name = [&](int r) {
    const int world = world_ranks[static_cast<std::size_t>(r)];
    const bool known = world >= 0 && static_cast<std::size_t>(world) < world_hosts.size();
    return "rank " + std::to_string(world) +
           (known ? " (host " + world_hosts[static_cast<std::size_t>(world)] + ")" : "");
  };

  // Message: 4-byte length, then the payload.
  std::array<char, kMaxPayload + 4> message{};
  const Clock::time_point start = Clock::now();
  if (rank == 0) {
    std::vector<char> arrivals(static_cast<std::size_t>(size), 0);
    std::vector<MPI_Request> requests(static_cast<std::size_t>(size - 1), MPI_REQUEST_NULL);
    for (int r = 1; r < size; ++r) {
      mpi_check(MPI_Irecv(&arrivals[static_cast<std::size_t>(r)], 1, MPI_CHAR, r, kArriveTag, group,
                          &requests[static_cast<std::size_t>(r - 1)]),
                "MPI_Irecv");
    }
    if (const auto missing = wait_until(requests, start + timeout); !missing.empty()) {
      std::vector<std::string> names;
      for (const std::size_t i : missing) names.push_back(name(static_cast<int>(i) + 1));
      throw Error(what + ": " + join(names, ", ") + (names.size() == 1 ? " has" : " have") +
                  " not arrived within " + seconds_text(timeout) + " (" +
                  std::to_string(size - static_cast<int>(names.size())) + " of " +
                  std::to_string(size) +
                  " ranks did); a rank that failed earlier, or one still loading, is the usual "
                  "cause (LLMPI_COMM_TIMEOUT_S sets the limit)");
    }
    const auto length = static_cast<std::uint32_t>(payload.size());
    std::memcpy(message.data(), &length, 4);
    std::memcpy(message.data() + 4, payload.data(), payload.size());
    std::vector<MPI_Request> sends(static_cast<std::size_t>(size - 1), MPI_REQUEST_NULL);
    for (int r = 1; r < size; ++r) {
      mpi_check(MPI_Isend(message.data(), static_cast<int>(message.size()), MPI_CHAR, r,
                          kPayloadTag, group, &sends[static_cast<std::size_t>(r - 1)]),
                "MPI_Isend");
    }
    if (const auto stuck = wait_until(sends, Clock::now() + timeout); !stuck.empty()) {
      std::vector<std::string> names;
      for (const std::size_t i : stuck) names.push_back(name(static_cast<int>(i) + 1));
      throw Error(what + ": " + join(names, ", ") + " arrived but did not take the start-up " +
                  "message within " + seconds_text(timeout));
    }
    return payload;
  }

  std::vector<MPI_Request> requests(2, MPI_REQUEST_NULL);
  mpi_check(MPI_Irecv(message.data(), static_cast<int>(message.size()), MPI_CHAR, 0, kPayloadTag,
                      group, &requests[0]),
            "MPI_Irecv");
  const char arrived = 1;
  mpi_check(MPI_Isend(&arrived, 1, MPI_CHAR, 0, kArriveTag, group, &requests[1]), "MPI_Isend");
  if (!wait_until(requests, start + 2 * timeout).empty()) {
    throw Error(what + ": rank 0 of the group, " + name(0) + ", did not answer within " +
                seconds_text(2 * timeout) + " (it fails or waits for another rank)");
  }
  std::uint32_t length = 0;
  std::memcpy(&length, message.data(), 4);
  if (length > kMaxPayload) throw Error(what + ": malformed start-up message from " + name(0));
  return std::string(message.data() + 4, length);
}

}  // namespace llmpi
