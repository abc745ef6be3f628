// ThreadCommunicator specifics: timeouts, contract violations, aborting the group, runRanks.
#include "comm/thread_communicator.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "comm/comm_error.h"

namespace agreid::comm {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ThreadCommunicatorTest, RankThatSkipsACollectiveMakesTheOthersTimeOut) {
  std::atomic<int> timeouts{0};
  runRanks(3, [&](Communicator& comm) {
    at::Tensor t = at::ones({4});
    if (comm.rank() == 2) return;  // skips the collective
    try {
      comm.allReduce(t, {ReduceOp::kSum, 200ms})->wait();
      ADD_FAILURE() << "rank " << comm.rank() << " completed an allReduce that rank 2 skipped";
    } catch (const CommError& e) {
      const std::string what = e.what();
      EXPECT_TRUE(contains(what, "allReduce")) << what;
      EXPECT_TRUE(contains(what, "rank " + std::to_string(comm.rank()) + " of 3")) << what;
      EXPECT_TRUE(contains(what, "200 ms")) << what;
      EXPECT_TRUE(contains(what, "never joined: 2")) << what;
      ++timeouts;
    }
  });
  EXPECT_EQ(timeouts.load(), 2);
}

TEST(ThreadCommunicatorTest, EveryBlockingCollectiveTimesOut) {
  runRanks(2, [&](Communicator& comm) {
    if (comm.rank() == 1) return;
    at::Tensor t = at::ones({2, 2});
    EXPECT_THROW(comm.broadcast(t, {0, 50ms}), CommError);
    EXPECT_THROW(comm.allGather(t, {50ms}), CommError);
    EXPECT_THROW(comm.allGatherV(t, {50ms}), CommError);
    EXPECT_THROW(comm.reduceScatter(t, {ReduceOp::kSum, 50ms}), CommError);
    EXPECT_THROW(comm.barrier({50ms}), CommError);
  });
}

TEST(ThreadCommunicatorTest, MismatchedCollectivesAreReported) {
  std::atomic<int> errors{0};
  runRanks(2, [&](Communicator& comm) {
    at::Tensor t = at::ones({3});
    try {
      if (comm.rank() == 0) {
        comm.allReduce(t)->wait();
      } else {
        comm.broadcast(t);
      }
      ADD_FAILURE() << "mismatched collectives completed";
    } catch (const CommError& e) {
      EXPECT_TRUE(contains(e.what(), "mismatch")) << e.what();
      EXPECT_TRUE(contains(e.what(), "allReduce(Float[3] sum)")) << e.what();
      EXPECT_TRUE(contains(e.what(), "broadcast(Float[3] root 0)")) << e.what();
      ++errors;
    }
    // Shapes must match too.
    at::Tensor shaped = at::ones({comm.rank() + 1});
    EXPECT_THROW(comm.allReduce(shaped)->wait(), CommError);
  });
  EXPECT_EQ(errors.load(), 2);
}

TEST(ThreadCommunicatorTest, BarrierWaitsForEveryRank) {
  std::atomic<int> arrived{0};
  runRanks(4, [&](Communicator& comm) {
    for (int round = 1; round <= 3; ++round) {
      ++arrived;
      comm.barrier();
      EXPECT_GE(arrived.load(), 4 * round);
      comm.barrier();  // nobody starts the next round before everyone checked
    }
  });
}

TEST(ThreadCommunicatorTest, FailureOnOneRankIsRethrownAndReleasesTheOthers) {
  const auto start = std::chrono::steady_clock::now();
  try {
    runRanks(3, [](Communicator& comm) {
      if (comm.rank() == 1) throw std::runtime_error("rank one broke");
      comm.barrier();  // default timeout of 10 minutes: only the abort can release it
    });
    FAIL() << "runRanks did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "rank one broke");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
}

TEST(ThreadCommunicatorTest, AllReduceSnapshotsItsInputWhenCalled) {
  runRanks(2, [](Communicator& comm) {
    at::Tensor t = at::full({2}, 1.0);
    auto work = comm.allReduce(t);
    t.fill_(100.0);  // changes after the call do not reach the other rank
    work->wait();
    EXPECT_TRUE(at::equal(t, at::full({2}, 2.0))) << t;
  });
}

TEST(ThreadCommunicatorTest, WorkDroppedWithoutWaitDoesNotBlockTheGroup) {
  runRanks(2, [](Communicator& comm) {
    for (int i = 0; i < 10; ++i) {
      at::Tensor t = at::ones({8});
      comm.allReduce(t);  // Work destroyed at once
    }
    at::Tensor t = at::ones({1});
    comm.allReduce(t)->wait();
    EXPECT_EQ(t.item<float>(), 2.0f);
  });
}

}  // namespace
}  // namespace agreid::comm
