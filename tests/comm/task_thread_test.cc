// TaskThread: tasks run in submission order on one thread, a task's exception reaches its waiter,
// a deadline is reported instead of blocking, and a stuck task does not hang the destructor.
#include "comm/task_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace agreid::comm {
namespace {

using namespace std::chrono_literals;

std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

TEST(TaskThreadTest, RunsTasksInSubmissionOrderOffTheCallersThread) {
  TaskThread worker;
  std::vector<int> order;
  std::vector<std::thread::id> ids;
  std::vector<std::shared_ptr<TaskThread::Ticket>> tickets;
  for (int i = 0; i < 50; ++i) {
    tickets.push_back(worker.submit([&, i] {
      order.push_back(i);
      ids.push_back(std::this_thread::get_id());
    }));
  }
  for (auto it = tickets.rbegin(); it != tickets.rend(); ++it)
    EXPECT_TRUE((*it)->waitUntil(in(10s)));
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
  for (const auto& id : ids) {
    EXPECT_EQ(id, ids[0]);
    EXPECT_NE(id, std::this_thread::get_id());
  }
  EXPECT_FALSE(worker.busy());
}

TEST(TaskThreadTest, ATasksExceptionIsRethrownToItsWaiterOnly) {
  TaskThread worker;
  auto failing = worker.submit([] { throw std::runtime_error("collective failed"); });
  auto fine = worker.submit([] {});
  EXPECT_THROW(
      {
        try {
          failing->waitUntil(in(10s));
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "collective failed");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_TRUE(fine->waitUntil(in(10s)));
}

TEST(TaskThreadTest, DeadlineReturnsFalseAndAnAbandonedThreadDoesNotBlockTheDestructor) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  const auto start = std::chrono::steady_clock::now();
  {
    TaskThread worker;
    auto stuck = worker.submit([release] {
      while (!release->load()) std::this_thread::sleep_for(1ms);
    });
    EXPECT_FALSE(stuck->waitUntil(in(50ms)));
    EXPECT_TRUE(worker.busy());
    worker.abandon();
  }  // detaches instead of joining
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  release->store(true);  // lets the detached thread finish and exit on its own
}

}  // namespace
}  // namespace agreid::comm
