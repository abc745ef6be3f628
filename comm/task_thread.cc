#include "comm/task_thread.h"

#include <utility>

namespace agreid::comm {

bool TaskThread::Ticket::waitUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!done_cv_.wait_until(lock, deadline, [this] { return done_; })) return false;
  if (error_) std::rethrow_exception(error_);
  return true;
}

void TaskThread::Ticket::complete(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
    error_ = std::move(error);
  }
  done_cv_.notify_all();
}

TaskThread::TaskThread() : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_] { loop(state); });
}

TaskThread::~TaskThread() {
  bool detach = false;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopping = true;
    detach = state_->abandoned;
  }
  state_->queue_cv.notify_all();
  if (detach) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

std::shared_ptr<TaskThread::Ticket> TaskThread::submit(std::function<void()> task) {
  auto ticket = std::make_shared<Ticket>();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->queue.emplace_back(std::move(task), ticket);
  }
  state_->queue_cv.notify_one();
  return ticket;
}

void TaskThread::abandon() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->abandoned = true;
}

bool TaskThread::busy() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->running || !state_->queue.empty();
}

void TaskThread::loop(const std::shared_ptr<State>& state) {
  for (;;) {
    std::pair<std::function<void()>, std::shared_ptr<Ticket>> item;
    {
      std::unique_lock<std::mutex> lock(state->mutex);
      state->queue_cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
      if (state->queue.empty()) return;  // stopping, and every submitted task has run
      item = std::move(state->queue.front());
      state->queue.pop_front();
      state->running = true;
    }
    std::exception_ptr error;
    try {
      item.first();
    } catch (...) {
      error = std::current_exception();
    }
    item.first = nullptr;  // release what the task holds before reporting completion
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->running = false;
    }
    item.second->complete(std::move(error));
  }
}

}  // namespace agreid::comm
