// TaskThread: one thread that runs submitted tasks in submission order (a serial executor, like
// c10d's ProcessGroupGloo work queue with one worker). The caller waits for a task with a deadline
// and gets the task's exception, if any, rethrown.
//
// A task that never returns (a collective whose peer never arrives) keeps the thread; the owner
// then calls abandon(), after which the destructor detaches the thread instead of joining it
// (the job is about to abort anyway; the thread's state stays alive with it). Tasks must keep
// whatever memory they touch alive themselves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace agreid::comm {

class TaskThread {
 public:
  // The completion state of one task.
  class Ticket {
   public:
    // Returns true once the task has finished (rethrowing its exception), false at the deadline.
    bool waitUntil(std::chrono::steady_clock::time_point deadline);

   private:
    friend class TaskThread;
    void complete(std::exception_ptr error);

    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::exception_ptr error_;
  };

  TaskThread();
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  std::shared_ptr<Ticket> submit(std::function<void()> task);

  // Marks the thread as possibly stuck in a task forever: the destructor will not join it.
  void abandon();

  // True while a submitted task has not finished. Once every ticket has been waited for
  // successfully it is false.
  bool busy();

 private:
  // Shared with the thread, so that a detached thread never touches freed memory.
  struct State {
    std::mutex mutex;
    std::condition_variable queue_cv;
    std::deque<std::pair<std::function<void()>, std::shared_ptr<Ticket>>> queue;
    bool stopping = false;
    bool abandoned = false;
    bool running = false;
  };
  static void loop(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace agreid::comm
