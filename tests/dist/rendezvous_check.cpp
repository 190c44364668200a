// Communicator start-up never hangs silently. Run under mpirun with 3 ranks:
//  - everyone arrives (one of them late, within the limit): rank 0's payload reaches all;
//  - rank 2 never comes: rank 0 fails within the limit naming rank 2 and its host, rank 1
//    fails naming rank 0; nobody hangs, and the job goes on afterwards.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/dist/rendezvous.hpp"

using namespace llmpi;
using namespace std::chrono_literals;

namespace {

int failures = 0;

void expect(bool condition, int rank, const std::string& what) {
  if (!condition) {
    std::printf("FAIL rank %d: %s\n", rank, what.c_str());
    ++failures;
  }
}

std::vector<std::string> hosts() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<std::string> all;
  for (int r = 0; r < size; ++r) all.push_back("host-of-" + std::to_string(r));
  return all;
}

}  // namespace

int main() {
  MpiEnvironment mpi;
  const int rank = mpi.world_rank();
  if (mpi.world_size() != 3) {
    std::fprintf(stderr, "run with 3 ranks\n");
    return 2;
  }
  const std::vector<std::string> names = hosts();

  // Everyone comes; rank 1 a little late.
  {
    MPI_Comm group = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &group);
    const OwnedComm owned(group);
    if (rank == 1) std::this_thread::sleep_for(200ms);
    const std::string got =
        rendezvous(group, rank == 0 ? "unique-id-bytes" : "", 5000ms, "test group", names);
    expect(got == "unique-id-bytes", rank, "payload '" + got + "'");
  }

  // Rank 2 never comes.
  {
    MPI_Comm group = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &group);
    const OwnedComm owned(group);
    if (rank != 2) {
      const auto start = std::chrono::steady_clock::now();
      std::string message;
      try {
        rendezvous(group, "id", 500ms, "NCCL tensor-parallel group 0", names);
      } catch (const Error& e) {
        message = e.what();
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("rank %d after %.2f s: %s\n", rank, seconds, message.c_str());
      expect(seconds < 3.0, rank, "took " + std::to_string(seconds) + " s");
      if (rank == 0) {
        expect(message.find("NCCL tensor-parallel group 0: rank 2 (host host-of-2) has not "
                            "arrived within 0.5 s") != std::string::npos,
               rank, "message names rank 2 and its host");
      } else {
        expect(message.find("rank 0 of the group, rank 0 (host host-of-0), did not answer") !=
                   std::string::npos,
               rank, "message names rank 0");
      }
    }
  }

  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("rendezvous: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
