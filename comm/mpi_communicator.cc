#include "comm/mpi_communicator.h"

#include <ATen/ATen.h>

#include <climits>
#include <functional>
#include <sstream>
#include <thread>

#include "base/check.h"
#include "comm/comm_error.h"
#include "comm/mpi_check.h"
#include "comm/tensor_checks.h"

namespace agreid::comm {

namespace {

constexpr const char* kBackend = "MpiCommunicator";

// The MPI type that moves (and, except for bfloat16, reduces) elements of `dtype`. bfloat16 moves
// as 16-bit words and is reduced in float32.
MPI_Datatype mpiType(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
      return MPI_FLOAT;
    case c10::ScalarType::Double:
      return MPI_DOUBLE;
    case c10::ScalarType::Int:
      return MPI_INT32_T;
    case c10::ScalarType::Long:
      return MPI_INT64_T;
    case c10::ScalarType::BFloat16:
      return MPI_UINT16_T;
    default:
      AGREID_CHECK(false, "no MPI type for ", c10::toString(dtype));
  }
}

MPI_Op mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

int mpiCount(int64_t count, const char* collective) {
  AGREID_CHECK(count >= 0 && count <= INT_MAX, kBackend, "::", collective, ": ", count,
               " elements exceed MPI's int count; split the tensor");
  return static_cast<int>(count);
}

// The buffer a reduction runs on: the tensor itself when it is contiguous and MPI can reduce its
// dtype, else a contiguous (float32 for bfloat16) copy.
at::Tensor reductionBuffer(const at::Tensor& t) {
  if (t.scalar_type() == at::kBFloat16) {
    at::Tensor buf = at::empty(t.sizes(), t.options().dtype(at::kFloat));
    buf.copy_(t);
    return buf;
  }
  return t.is_contiguous() ? t : t.contiguous();
}

std::vector<int64_t> gatheredShape(const at::Tensor& input, int64_t rows) {
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape[0] = rows;
  return shape;
}

}  // namespace

// One posted MPI request. wait() polls MPI_Test until it completes or the deadline passes, then
// runs `finish` (copy back, average, convert).
class MpiCommunicator::MpiWork : public Work {
 public:
  MpiWork(MpiCommunicator* owner, const char* collective, uint64_t sequence,
          std::chrono::milliseconds timeout)
      : owner_(owner),
        collective_(collective),
        sequence_(sequence),
        timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout) {}

  ~MpiWork() override {
    if (request_ != MPI_REQUEST_NULL) owner_->abandon(request_, std::move(buffers_));
  }

  MPI_Request* request() { return &request_; }
  void keep(const at::Tensor& buffer) { buffers_.push_back(buffer); }
  void setFinish(std::function<void()> finish) { finish_ = std::move(finish); }

  void wait() override {
    if (finished_) return;
    int done = 0;
    for (uint64_t spin = 0;; ++spin) {
      AGREID_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
      if (done) break;
      if (spin % 64 == 63 && std::chrono::steady_clock::now() > deadline_) {
        owner_->abandon(request_, std::move(buffers_));
        request_ = MPI_REQUEST_NULL;
        finished_ = true;
        throw CommError(timeoutMessage("mpi", collective_, sequence_, owner_->rank(),
                                       owner_->size(), timeout_));
      }
      // Busy-poll briefly for latency, then sleep between polls: ranks are often
      // oversubscribed, and a spinning rank takes the core from the loader threads and from
      // the rank it is waiting for.
      if (spin > 2048) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    request_ = MPI_REQUEST_NULL;
    finished_ = true;
    if (finish_) finish_();
    buffers_.clear();
  }

 private:
  MpiCommunicator* owner_;
  const char* collective_;
  uint64_t sequence_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  std::vector<at::Tensor> buffers_;
  std::function<void()> finish_;
  bool finished_ = false;
};

// A reduction queued on the communication thread. wait() sleeps until the thread has run it or
// the deadline passes, then runs `finish` (copy back, average).
class MpiCommunicator::ThreadWork : public Work {
 public:
  ThreadWork(MpiCommunicator* owner, std::shared_ptr<TaskThread::Ticket> ticket,
             std::function<void()> finish, uint64_t sequence, std::chrono::milliseconds timeout)
      : owner_(owner),
        ticket_(std::move(ticket)),
        finish_(std::move(finish)),
        sequence_(sequence),
        timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout) {}

  void wait() override {
    if (finished_) return;
    finished_ = true;
    if (!ticket_->waitUntil(deadline_)) {
      owner_->reduce_thread_->abandon();
      throw CommError(
          timeoutMessage("mpi", "allReduce", sequence_, owner_->rank(), owner_->size(), timeout_));
    }
    if (finish_) finish_();
  }

 private:
  MpiCommunicator* owner_;
  std::shared_ptr<TaskThread::Ticket> ticket_;
  std::function<void()> finish_;
  uint64_t sequence_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  bool finished_ = false;
};

MpiCommunicator::MpiCommunicator(MPI_Comm comm, const MpiCommunicatorOptions& opts) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  AGREID_CHECK(initialized, "MpiCommunicator: MPI is not initialised (create an MpiSession first)");
  AGREID_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  AGREID_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  AGREID_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  AGREID_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  int level = MPI_THREAD_SINGLE;
  AGREID_MPI_CHECK(MPI_Query_thread(&level));
  // Every rank of one job gets the same thread level, so all ranks take the same branch.
  if (opts.reduce_on_thread && level == MPI_THREAD_MULTIPLE) {
    AGREID_MPI_CHECK(MPI_Comm_dup(comm_, &reduce_comm_));
    AGREID_MPI_CHECK(MPI_Comm_set_errhandler(reduce_comm_, MPI_ERRORS_RETURN));
    reduce_thread_ = std::make_unique<TaskThread>();
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // A reduction still queued or running (after a timeout, or a Work dropped on an error path)
  // may never finish: the thread is then left behind rather than joined.
  const bool thread_stuck = reduce_thread_ && reduce_thread_->busy();
  if (thread_stuck) reduce_thread_->abandon();
  reduce_thread_.reset();
  if (!finalized && !thread_stuck && reduce_comm_ != MPI_COMM_NULL) MPI_Comm_free(&reduce_comm_);
  // With an operation still posted (after a timeout) freeing the communicator is unsafe; the job
  // is about to abort anyway, so the communicator and the buffers are left alone.
  std::lock_guard<std::mutex> lock(abandoned_mutex_);
  if (!finalized && abandoned_.empty() && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (!abandoned_.empty()) new decltype(abandoned_)(std::move(abandoned_));  // deliberately leaked
}

void MpiCommunicator::abandon(MPI_Request request, std::vector<at::Tensor> buffers) {
  std::lock_guard<std::mutex> lock(abandoned_mutex_);
  abandoned_.emplace_back(request, std::move(buffers));
}

std::unique_ptr<Work> MpiCommunicator::allReduce(at::Tensor& tensor, const AllReduceOptions& opts) {
  checkCollectiveTensor(tensor, TensorPlace::kCpu, kBackend, "allReduce");
  checkReduceOp(opts.op, tensor.scalar_type(), kBackend, "allReduce");
  at::Tensor buf = reductionBuffer(tensor);
  const int count = mpiCount(buf.numel(), "allReduce");
  const MPI_Datatype type = mpiType(buf.scalar_type());
  const bool average = opts.op == ReduceOp::kAvg;
  const bool copy_back = !buf.is_same(tensor);
  std::function<void()> finish;
  if (average || copy_back) {
    at::Tensor target = tensor;
    const int size = size_;
    finish = [target, buf, average, copy_back, size]() mutable {
      at::AutoGradMode no_grad(false);
      if (average) buf.div_(static_cast<double>(size));
      if (copy_back) target.copy_(buf);
    };
  }
  const uint64_t sequence = next_sequence_++;
  if (reduce_thread_) {
    // The task owns `buf`, so a Work dropped without wait() cannot free memory MPI writes.
    auto ticket =
        reduce_thread_->submit([buf, count, type, op = mpiOp(opts.op), comm = reduce_comm_]() {
          AGREID_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf.data_ptr(), count, type, op, comm));
        });
    return std::make_unique<ThreadWork>(this, std::move(ticket), std::move(finish), sequence,
                                        opts.timeout);
  }
  auto work = std::make_unique<MpiWork>(this, "allReduce", sequence, opts.timeout);
  AGREID_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf.data_ptr(), count, type, mpiOp(opts.op), comm_,
                                  work->request()));
  work->keep(buf);
  if (finish) work->setFinish(std::move(finish));
  return work;
}

void MpiCommunicator::broadcast(at::Tensor& tensor, const BroadcastOptions& opts) {
  checkCollectiveTensor(tensor, TensorPlace::kCpu, kBackend, "broadcast");
  AGREID_CHECK(opts.root >= 0 && opts.root < size_, kBackend, "::broadcast: root ", opts.root,
               " outside [0, ", size_, ")");
  at::Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  MpiWork work(this, "broadcast", next_sequence_++, opts.timeout);
  AGREID_MPI_CHECK(MPI_Ibcast(buf.data_ptr(), mpiCount(buf.numel(), "broadcast"),
                              mpiType(buf.scalar_type()), opts.root, comm_, work.request()));
  work.keep(buf);
  work.wait();
  if (!buf.is_same(tensor)) {
    at::AutoGradMode no_grad(false);
    tensor.copy_(buf);
  }
}

at::Tensor MpiCommunicator::allGather(const at::Tensor& input, const AllGatherOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, kBackend, "allGather");
  AGREID_CHECK(input.dim() >= 1, kBackend, "::allGather: needs at least one dimension");
  at::Tensor in = input.is_contiguous() ? input : input.contiguous();
  at::Tensor out = at::empty(gatheredShape(input, input.size(0) * size_), input.options());
  const int count = mpiCount(in.numel(), "allGather");
  mpiCount(out.numel(), "allGather");
  const MPI_Datatype type = mpiType(in.scalar_type());
  MpiWork work(this, "allGather", next_sequence_++, opts.timeout);
  AGREID_MPI_CHECK(MPI_Iallgather(in.data_ptr(), count, type, out.data_ptr(), count, type, comm_,
                                  work.request()));
  work.keep(in);
  work.keep(out);
  work.wait();
  return out;
}

at::Tensor MpiCommunicator::allGatherV(const at::Tensor& input, const AllGatherOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, kBackend, "allGatherV");
  AGREID_CHECK(input.dim() >= 1, kBackend, "::allGatherV: needs at least one dimension");
  const int64_t inner = input.size(0) > 0 ? input.numel() / input.size(0) : [&] {
    int64_t n = 1;
    for (int64_t d = 1; d < input.dim(); ++d) n *= input.size(d);
    return n;
  }();
  // Exchange (rows, elements per row, dtype) first.
  std::vector<int64_t> mine = {input.size(0), inner, static_cast<int64_t>(input.scalar_type())};
  std::vector<int64_t> all(3 * static_cast<size_t>(size_));
  {
    MpiWork work(this, "allGatherV", next_sequence_++, opts.timeout);
    AGREID_MPI_CHECK(MPI_Iallgather(mine.data(), 3, MPI_INT64_T, all.data(), 3, MPI_INT64_T, comm_,
                                    work.request()));
    work.wait();
  }
  std::vector<int> counts(size_), displacements(size_);
  int64_t total_rows = 0, offset = 0;
  for (int r = 0; r < size_; ++r) {
    if (all[3 * r + 1] != inner || all[3 * r + 2] != mine[2]) {
      std::ostringstream os;
      os << "allGatherV: rank " << r << " sends rows of " << all[3 * r + 1] << " elements of dtype "
         << c10::toString(static_cast<c10::ScalarType>(all[3 * r + 2])) << " but rank " << rank_
         << " has rows of " << inner << " elements of dtype " << c10::toString(input.scalar_type());
      throw CommError(os.str());
    }
    counts[r] = mpiCount(all[3 * r] * inner, "allGatherV");
    displacements[r] = mpiCount(offset, "allGatherV");
    offset += all[3 * r] * inner;
    total_rows += all[3 * r];
  }
  mpiCount(offset, "allGatherV");
  at::Tensor in = input.is_contiguous() ? input : input.contiguous();
  at::Tensor out = at::empty(gatheredShape(input, total_rows), input.options());
  const MPI_Datatype type = mpiType(in.scalar_type());
  MpiWork work(this, "allGatherV", next_sequence_++, opts.timeout);
  AGREID_MPI_CHECK(MPI_Iallgatherv(in.data_ptr(), counts[rank_], type, out.data_ptr(),
                                   counts.data(), displacements.data(), type, comm_,
                                   work.request()));
  work.keep(in);
  work.keep(out);
  work.wait();
  return out;
}

at::Tensor MpiCommunicator::reduceScatter(const at::Tensor& input,
                                          const ReduceScatterOptions& opts) {
  checkCollectiveTensor(input, TensorPlace::kCpu, kBackend, "reduceScatter");
  checkReduceOp(opts.op, input.scalar_type(), kBackend, "reduceScatter");
  AGREID_CHECK(input.dim() >= 1 && input.size(0) % size_ == 0, kBackend,
               "::reduceScatter: the first dimension (", input.sizes(),
               ") must be a multiple of the world size ", size_);
  at::Tensor in = reductionBuffer(input);
  const int64_t rows = input.size(0) / size_;
  at::Tensor out = at::empty(gatheredShape(input, rows), in.options());
  mpiCount(in.numel(), "reduceScatter");
  MpiWork work(this, "reduceScatter", next_sequence_++, opts.timeout);
  AGREID_MPI_CHECK(MPI_Ireduce_scatter_block(
      in.data_ptr(), out.data_ptr(), mpiCount(out.numel(), "reduceScatter"),
      mpiType(in.scalar_type()), mpiOp(opts.op), comm_, work.request()));
  work.keep(in);
  work.keep(out);
  work.wait();
  if (opts.op == ReduceOp::kAvg) out.div_(static_cast<double>(size_));
  return out.scalar_type() == input.scalar_type() ? out : out.to(input.scalar_type());
}

void MpiCommunicator::barrier(const BarrierOptions& opts) {
  MpiWork work(this, "barrier", next_sequence_++, opts.timeout);
  AGREID_MPI_CHECK(MPI_Ibarrier(comm_, work.request()));
  work.wait();
}

}  // namespace agreid::comm
