#include "comm/thread_communicator.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "base/check.h"
#include "comm/comm_error.h"
#include "comm/tensor_checks.h"

namespace agreid::comm {

// One collective in flight: what each rank contributed. Inputs are immutable once deposited, so
// every rank can read them without the lock after all ranks have arrived.
struct Slot {
  std::vector<at::Tensor> inputs;
  std::vector<std::string> signatures;
  int arrived = 0;
  int released = 0;
};

struct ThreadGroup::State {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, Slot> slots;
  std::string abort_reason;  // non-empty once aborted
};

ThreadGroup::ThreadGroup(int size) : size_(size), state_(std::make_unique<State>()) {
  AGREID_CHECK(size >= 1, "ThreadGroup needs at least one rank, got ", size);
}

ThreadGroup::~ThreadGroup() = default;

void ThreadGroup::abort(const std::string& reason) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->abort_reason.empty()) state_->abort_reason = reason.empty() ? "aborted" : reason;
  state_->changed.notify_all();
}

// A collective this rank has joined: wait() blocks until every rank has joined (or the deadline
// passes), then `finish` computes this rank's result from all inputs.
class ThreadCommunicator::PendingOp : public Work {
 public:
  using Finish = std::function<void(const std::vector<at::Tensor>&)>;

  PendingOp(ThreadGroup* group, int rank, uint64_t sequence, const char* collective,
            std::chrono::milliseconds timeout)
      : group_(group),
        rank_(rank),
        sequence_(sequence),
        collective_(collective),
        timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout) {}

  ~PendingOp() override {
    if (!released_) release();
  }

  void setFinish(Finish finish) { finish_ = std::move(finish); }

  void wait() override {
    if (released_) return;
    ThreadGroup::State& st = *group_->state_;
    const std::vector<at::Tensor>* inputs = nullptr;
    {
      std::unique_lock<std::mutex> lock(st.mutex);
      auto ready = [&] {
        return !st.abort_reason.empty() || st.slots[sequence_].arrived == group_->size();
      };
      if (!st.changed.wait_until(lock, deadline_, ready)) {
        std::ostringstream missing;
        const Slot& slot = st.slots[sequence_];
        for (int r = 0; r < group_->size(); ++r)
          if (slot.signatures[r].empty()) missing << " " << r;
        lock.unlock();
        release();
        throw CommError(
            timeoutMessage("thread", collective_, sequence_, rank_, group_->size(), timeout_) +
            "; ranks that never joined:" + missing.str());
      }
      if (!st.abort_reason.empty()) {
        const std::string reason = st.abort_reason;
        lock.unlock();
        release();
        throw CommError(std::string(collective_) + " on rank " + std::to_string(rank_) +
                        ": thread group aborted: " + reason);
      }
      const Slot& slot = st.slots[sequence_];
      for (int r = 0; r < group_->size(); ++r) {
        if (slot.signatures[r] != slot.signatures[rank_]) {
          const std::string message = "collective #" + std::to_string(sequence_) +
                                      " mismatch: rank " + std::to_string(rank_) + " called " +
                                      slot.signatures[rank_] + " but rank " + std::to_string(r) +
                                      " called " + slot.signatures[r];
          lock.unlock();
          release();
          throw CommError(message);
        }
      }
      inputs = &slot.inputs;  // std::map nodes are stable; the slot lives until released
    }
    try {
      if (finish_) finish_(*inputs);
    } catch (...) {
      release();
      throw;
    }
    release();
  }

 private:
  void release() {
    released_ = true;
    ThreadGroup::State& st = *group_->state_;
    std::lock_guard<std::mutex> lock(st.mutex);
    auto it = st.slots.find(sequence_);
    if (it != st.slots.end() && ++it->second.released == group_->size()) st.slots.erase(it);
  }

  ThreadGroup* group_;
  int rank_;
  uint64_t sequence_;
  const char* collective_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  Finish finish_;
  bool released_ = false;
};

namespace {

std::string describe(const char* collective, const at::Tensor& t, const std::string& extra) {
  std::ostringstream os;
  os << collective << "(";
  if (t.defined()) os << c10::toString(t.scalar_type()) << t.sizes();
  if (!extra.empty()) os << (t.defined() ? " " : "") << extra;
  os << ")";
  return os.str();
}

// Reduces inputs[r] (or their `index`-th slices) in rank order; bfloat16 accumulates in float32.
at::Tensor reduceInRankOrder(const std::vector<at::Tensor>& inputs, ReduceOp op,
                             const std::function<at::Tensor(const at::Tensor&)>& pick) {
  const auto dtype = inputs[0].scalar_type();
  const auto acc_dtype = dtype == at::kBFloat16 ? at::kFloat : dtype;
  at::Tensor acc = pick(inputs[0]).to(acc_dtype, /*non_blocking=*/false, /*copy=*/true);
  for (size_t r = 1; r < inputs.size(); ++r) {
    at::Tensor x = pick(inputs[r]).to(acc_dtype);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        acc.add_(x);
        break;
      case ReduceOp::kMax:
        acc = at::maximum(acc, x);
        break;
      case ReduceOp::kMin:
        acc = at::minimum(acc, x);
        break;
    }
  }
  if (op == ReduceOp::kAvg) acc.div_(static_cast<double>(inputs.size()));
  return acc;
}

at::Tensor snapshot(const at::Tensor& t) { return t.detach().clone(at::MemoryFormat::Contiguous); }

}  // namespace

ThreadCommunicator::ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {
  AGREID_CHECK(group_ != nullptr, "ThreadCommunicator needs a ThreadGroup");
  AGREID_CHECK(rank >= 0 && rank < group_->size(), "ThreadCommunicator rank ", rank,
               " outside [0, ", group_->size(), ")");
}

std::unique_ptr<ThreadCommunicator::PendingOp> ThreadCommunicator::issue(
    const char* collective, const std::string& signature, const at::Tensor& contribution,
    std::chrono::milliseconds timeout) {
  const uint64_t sequence = next_sequence_++;
  auto op = std::make_unique<PendingOp>(group_.get(), rank_, sequence, collective, timeout);
  ThreadGroup::State& st = *group_->state_;
  std::lock_guard<std::mutex> lock(st.mutex);
  Slot& slot = st.slots[sequence];
  if (slot.inputs.empty()) {
    slot.inputs.resize(group_->size());
    slot.signatures.resize(group_->size());
  }
  slot.inputs[rank_] = contribution;
  slot.signatures[rank_] = signature;
  if (++slot.arrived == group_->size()) st.changed.notify_all();
  return op;
}

std::unique_ptr<Work> ThreadCommunicator::allReduce(at::Tensor& tensor,
                                                    const AllReduceOptions& opts) {
  checkCollectiveTensor(tensor, TensorPlace::kCpu, "ThreadCommunicator", "allReduce");
  checkReduceOp(opts.op, tensor.scalar_type(), "ThreadCommunicator", "allReduce");
  auto op = issue("allReduce", describe("allReduce", tensor, reduceOpName(opts.op)),
                  snapshot(tensor), opts.timeout);
  at::Tensor target = tensor;  // shares storage with the caller's tensor
  const ReduceOp reduce = opts.op;
  op->setFinish([target, reduce](const std::vector<at::Tensor>& inputs) mutable {
    at::AutoGradMode no_grad(false);
    target.copy_(reduceInRankOrder(inputs, reduce, [](const at::Tensor& x) { return x; }));
  });
  return op;
}

void ThreadCommunicator::broadcast(at::Tensor& tensor, const BroadcastOptions& opts) {
  checkCollectiveTensor(tensor, TensorPlace::kCpu, "ThreadCommunicator", "broadcast");
  AGREID_CHECK(opts.root >= 0 && opts.root < size(), "ThreadCommunicator::broadcast: root ",
               opts.root, " outside [0, ", size(), ")");
  auto op = issue("broadcast", describe("broadcast", tensor, "root " + std::to_string(opts.root)),
                  rank_ == opts.root ? snapshot(tensor) : at::Tensor(), opts.timeout);
  const int root = opts.root;
  op->setFinish([&tensor, root, this](const std::vector<at::Tensor>& inputs) {
    if (rank_ == root) return;
    at::AutoGradMode no_grad(false);
    tensor.copy_(inputs[root]);
  });
  op->wait();
}

at::Tensor ThreadCommunicator::allGather(const at::Tensor& input, const AllGatherOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, "ThreadCommunicator", "allGather");
  AGREID_CHECK(input.dim() >= 1, "ThreadCommunicator::allGather: needs at least one dimension");
  auto op = issue("allGather", describe("allGather", input, ""), snapshot(input), opts.timeout);
  at::Tensor result;
  op->setFinish([&result](const std::vector<at::Tensor>& inputs) { result = at::cat(inputs, 0); });
  op->wait();
  return result;
}

at::Tensor ThreadCommunicator::allGatherV(const at::Tensor& input, const AllGatherOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, "ThreadCommunicator", "allGatherV");
  AGREID_CHECK(input.dim() >= 1, "ThreadCommunicator::allGatherV: needs at least one dimension");
  std::ostringstream rows;
  rows << c10::toString(input.scalar_type()) << "[*" << input.sizes().slice(1) << "]";
  auto op = issue("allGatherV", "allGatherV(" + rows.str() + ")", snapshot(input), opts.timeout);
  at::Tensor result;
  op->setFinish([&result](const std::vector<at::Tensor>& inputs) { result = at::cat(inputs, 0); });
  op->wait();
  return result;
}

at::Tensor ThreadCommunicator::reduceScatter(const at::Tensor& input,
                                             const ReduceScatterOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, "ThreadCommunicator", "reduceScatter");
  checkReduceOp(opts.op, input.scalar_type(), "ThreadCommunicator", "reduceScatter");
  AGREID_CHECK(input.dim() >= 1 && input.size(0) % size() == 0,
               "ThreadCommunicator::reduceScatter: the first dimension (", input.sizes(),
               ") must be a multiple of the world size ", size());
  auto op = issue("reduceScatter", describe("reduceScatter", input, reduceOpName(opts.op)),
                  snapshot(input), opts.timeout);
  const int64_t rows = input.size(0) / size();
  const int64_t start = rows * rank_;
  at::Tensor result;
  const ReduceOp reduce = opts.op;
  op->setFinish([&](const std::vector<at::Tensor>& inputs) {
    result = reduceInRankOrder(inputs, reduce, [&](const at::Tensor& x) {
               return x.narrow(0, start, rows);
             }).to(input.scalar_type());
  });
  op->wait();
  return result;
}

void ThreadCommunicator::barrier(const BarrierOptions& opts) {
  issue("barrier", "barrier()", at::Tensor(), opts.timeout)->wait();
}

void runRanks(int num_ranks, const std::function<void(Communicator&)>& fn) {
  auto group = std::make_shared<ThreadGroup>(num_ranks);
  std::mutex mutex;
  std::exception_ptr first_error;
  std::vector<std::thread> threads;
  threads.reserve(num_ranks);
  for (int r = 0; r < num_ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        ThreadCommunicator comm(group, r);
        fn(comm);
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!first_error) first_error = std::current_exception();
        }
        group->abort("rank " + std::to_string(r) + " failed: " + e.what());
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!first_error) first_error = std::current_exception();
        }
        group->abort("rank " + std::to_string(r) + " failed");
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace agreid::comm
