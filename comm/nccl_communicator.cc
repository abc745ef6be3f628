#include "comm/nccl_communicator.h"

#include <ATen/ATen.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/check.h"
#include "comm/comm_error.h"
#include "comm/mpi_check.h"
#include "comm/tensor_checks.h"

namespace agreid::comm {

namespace {

constexpr const char* kBackend = "NcclCommunicator";

void checkCuda(cudaError_t result, const char* call, const char* file, int line) {
  if (result == cudaSuccess) return;
  throw CommError(std::string("CUDA error in ") + call + " at " + file + ":" +
                  std::to_string(line) + ": " + cudaGetErrorString(result));
}

void checkNccl(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  throw CommError(std::string("NCCL error in ") + call + " at " + file + ":" +
                  std::to_string(line) + ": " + ncclGetErrorString(result) + " (NCCL " +
                  std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
                  std::to_string(NCCL_PATCH) + "): " + ncclGetLastError(nullptr));
}

#define AGREID_CUDA_CHECK(call) checkCuda((call), #call, __FILE__, __LINE__)
#define AGREID_NCCL_CHECK(call) checkNccl((call), #call, __FILE__, __LINE__)

ncclDataType_t ncclType(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
      return ncclFloat32;
    case c10::ScalarType::Double:
      return ncclFloat64;
    case c10::ScalarType::BFloat16:
      return ncclBfloat16;
    case c10::ScalarType::Int:
      return ncclInt32;
    case c10::ScalarType::Long:
      return ncclInt64;
    default:
      AGREID_CHECK(false, "no NCCL type for ", c10::toString(dtype));
  }
}

ncclRedOp_t ncclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

cudaEvent_t newEvent() {
  cudaEvent_t event = nullptr;
  AGREID_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

std::vector<int64_t> withRows(const at::Tensor& t, int64_t rows) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  shape[0] = rows;
  return shape;
}

}  // namespace

struct NcclCommunicator::State {
  struct Pending {
    cudaEvent_t done;
    std::chrono::steady_clock::time_point deadline;
    std::string timeout_message;
    std::vector<at::Tensor> buffers;  // kept alive until the collective has finished
  };

  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;   // collectives run here
  cudaStream_t compute = nullptr;  // the caller's stream
  float* barrier_buffer = nullptr;
  int64_t* host_rows = nullptr;  // pinned, 2 * size
  uint64_t next_sequence = 0;

  std::mutex mutex;  // guards everything below, and every use of `comm`
  std::condition_variable wake;
  std::deque<Pending> pending;
  std::string error;  // the first failure
  bool aborted = false;
  bool stopping = false;
  std::thread watchdog;

  void throwIfFailedLocked() const {
    if (!error.empty()) throw CommError(error);
  }

  void failLocked(const std::string& message) {
    if (error.empty()) error = message;
    if (!aborted && comm != nullptr) {
      aborted = true;
      ncclCommAbort(comm);  // releases kernels waiting for a peer that never comes
      comm = nullptr;
    }
  }

  // Polls every pending collective once. Called with the lock held.
  void pollLocked(int rank) {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      const cudaError_t state = cudaEventQuery(it->done);
      if (state == cudaSuccess) {
        cudaEventDestroy(it->done);
        it = pending.erase(it);
        continue;
      }
      if (state != cudaErrorNotReady) {
        failLocked(it->timeout_message + " -- CUDA error: " + cudaGetErrorString(state));
      } else if (now > it->deadline) {
        failLocked(it->timeout_message);
      }
      ++it;
    }
    if (comm != nullptr) {
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm, &async) == ncclSuccess && async != ncclSuccess &&
          async != ncclInProgress) {
        failLocked(std::string("asynchronous NCCL error on rank ") + std::to_string(rank) + ": " +
                   ncclGetErrorString(async));
      }
    }
  }

  // Runs `enqueue(comm, stream)` on the communicator's stream after the work queued on the
  // compute stream; returns an event that completes with the collective (owned by the caller).
  // The watchdog tracks the collective against `timeout` and keeps `buffers` alive until it has
  // finished.
  cudaEvent_t launch(int rank, int size, const char* collective, std::chrono::milliseconds timeout,
                     std::vector<at::Tensor> buffers,
                     const std::function<void(ncclComm_t, cudaStream_t)>& enqueue) {
    std::lock_guard<std::mutex> lock(mutex);
    throwIfFailedLocked();
    const uint64_t sequence = next_sequence++;
    AGREID_CUDA_CHECK(cudaSetDevice(device));
    cudaEvent_t ready = newEvent();
    AGREID_CUDA_CHECK(cudaEventRecord(ready, compute));
    AGREID_CUDA_CHECK(cudaStreamWaitEvent(stream, ready, 0));
    AGREID_CUDA_CHECK(cudaEventDestroy(ready));
    enqueue(comm, stream);
    cudaEvent_t tracked = newEvent();
    cudaEvent_t returned = newEvent();
    AGREID_CUDA_CHECK(cudaEventRecord(tracked, stream));
    AGREID_CUDA_CHECK(cudaEventRecord(returned, stream));
    pending.push_back({tracked, std::chrono::steady_clock::now() + timeout,
                       timeoutMessage("nccl", collective, sequence, rank, size, timeout),
                       std::move(buffers)});
    return returned;
  }

  // Blocks the host until `event` has completed; throws CommError once the watchdog reports a
  // timeout or an error. Destroys `event`.
  void hostWait(cudaEvent_t event) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error.empty()) {
          cudaEventDestroy(event);
          throw CommError(error);
        }
      }
      const cudaError_t state = cudaEventQuery(event);
      if (state == cudaSuccess) break;
      if (state != cudaErrorNotReady) {
        cudaEventDestroy(event);
        checkCuda(state, "cudaEventQuery", __FILE__, __LINE__);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    cudaEventDestroy(event);
  }

  // Makes the compute stream wait for `event`, then destroys it.
  void computeWaits(cudaEvent_t event) {
    const cudaError_t result = cudaStreamWaitEvent(compute, event, 0);
    cudaEventDestroy(event);
    AGREID_CUDA_CHECK(result);
  }

  void watch(int rank, std::chrono::milliseconds period) {
    cudaSetDevice(device);
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, period);
      pollLocked(rank);
    }
  }
};

// Work::wait() orders the compute stream after the collective and does not block the host.
class NcclCommunicator::NcclWork : public Work {
 public:
  NcclWork(State* state, cudaEvent_t done, std::function<void()> finish)
      : state_(state), done_(done), finish_(std::move(finish)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }

  void wait() override {
    if (waited_) return;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->throwIfFailedLocked();
    }
    AGREID_CUDA_CHECK(cudaStreamWaitEvent(state_->compute, done_, 0));
    waited_ = true;
    if (finish_) finish_();
  }

 private:
  State* state_;
  cudaEvent_t done_;
  std::function<void()> finish_;
  bool waited_ = false;
};

int NcclCommunicator::visibleDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

NcclCommunicator::NcclCommunicator(MPI_Comm bootstrap, const NcclOptions& opts)
    : state_(std::make_unique<State>()) {
  AGREID_MPI_CHECK(MPI_Comm_rank(bootstrap, &rank_));
  AGREID_MPI_CHECK(MPI_Comm_size(bootstrap, &size_));
  MPI_Comm local;
  AGREID_MPI_CHECK(
      MPI_Comm_split_type(bootstrap, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  int local_rank = 0;
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_free(&local);
  const int count = visibleDeviceCount();
  if (count == 0) {
    throw CommError("NcclCommunicator: no usable CUDA device on rank " + std::to_string(rank_));
  }
  device_ = opts.device >= 0 ? opts.device : local_rank % count;
  AGREID_CHECK(device_ < count, "NcclCommunicator: device ", device_, " but only ", count,
               " visible");
  State& st = *state_;
  st.device = device_;
  st.compute = static_cast<cudaStream_t>(opts.compute_stream);
  AGREID_CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (rank_ == 0) AGREID_NCCL_CHECK(ncclGetUniqueId(&id));
  AGREID_MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, bootstrap));
  AGREID_NCCL_CHECK(ncclCommInitRank(&st.comm, size_, id, rank_));
  AGREID_CUDA_CHECK(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking));
  AGREID_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&st.barrier_buffer), sizeof(float)));
  AGREID_CUDA_CHECK(cudaMemset(st.barrier_buffer, 0, sizeof(float)));
  AGREID_CUDA_CHECK(
      cudaMallocHost(reinterpret_cast<void**>(&st.host_rows), 2 * sizeof(int64_t) * size_));
  st.watchdog =
      std::thread([this, period = opts.watchdog_period] { state_->watch(rank_, period); });
}

NcclCommunicator::~NcclCommunicator() {
  State& st = *state_;
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    st.stopping = true;
    st.wake.notify_all();
  }
  if (st.watchdog.joinable()) st.watchdog.join();
  std::lock_guard<std::mutex> lock(st.mutex);
  cudaSetDevice(st.device);
  st.pollLocked(rank_);
  if (st.comm != nullptr) {
    // Unfinished collectives would make ncclCommDestroy wait forever: abort instead.
    if (st.pending.empty()) {
      ncclCommDestroy(st.comm);
    } else {
      ncclCommAbort(st.comm);
    }
    st.comm = nullptr;
  }
  for (auto& p : st.pending) cudaEventDestroy(p.done);
  st.pending.clear();
  if (st.stream != nullptr) cudaStreamDestroy(st.stream);
  if (st.barrier_buffer != nullptr) cudaFree(st.barrier_buffer);
  if (st.host_rows != nullptr) cudaFreeHost(st.host_rows);
}

namespace {

void checkOnDevice(const at::Tensor& t, int device, const char* collective) {
  checkCollectiveTensor(t, TensorPlace::kCuda, kBackend, collective);
  AGREID_CHECK(t.device().index() == device, kBackend, "::", collective, ": tensor on ",
               t.device().str(), " but this rank drives cuda:", device);
}

}  // namespace

std::unique_ptr<Work> NcclCommunicator::allReduce(at::Tensor& tensor,
                                                  const AllReduceOptions& opts) {
  checkOnDevice(tensor, device_, "allReduce");
  checkReduceOp(opts.op, tensor.scalar_type(), kBackend, "allReduce");
  at::Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  const ncclRedOp_t op = ncclOp(opts.op);
  cudaEvent_t done = state_->launch(
      rank_, size_, "allReduce", opts.timeout, {buf}, [&](ncclComm_t comm, cudaStream_t stream) {
        AGREID_NCCL_CHECK(ncclAllReduce(buf.data_ptr(), buf.data_ptr(), buf.numel(),
                                        ncclType(buf.scalar_type()), op, comm, stream));
      });
  std::function<void()> finish;
  if (!buf.is_same(tensor)) {
    finish = [target = tensor, buf]() mutable {
      at::AutoGradMode no_grad(false);
      target.copy_(buf);
    };
  }
  return std::make_unique<NcclWork>(state_.get(), done, std::move(finish));
}

void NcclCommunicator::broadcast(at::Tensor& tensor, const BroadcastOptions& opts) {
  checkOnDevice(tensor, device_, "broadcast");
  AGREID_CHECK(opts.root >= 0 && opts.root < size_, kBackend, "::broadcast: root ", opts.root,
               " outside [0, ", size_, ")");
  at::Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  state_->computeWaits(state_->launch(
      rank_, size_, "broadcast", opts.timeout, {buf}, [&](ncclComm_t comm, cudaStream_t stream) {
        AGREID_NCCL_CHECK(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), buf.numel(),
                                        ncclType(buf.scalar_type()), opts.root, comm, stream));
      }));
  if (!buf.is_same(tensor)) {
    at::AutoGradMode no_grad(false);
    tensor.copy_(buf);
  }
}

at::Tensor NcclCommunicator::allGather(const at::Tensor& input, const AllGatherOptions& opts) {
  checkOnDevice(input, device_, "allGather");
  AGREID_CHECK(input.dim() >= 1, kBackend, "::allGather: needs at least one dimension");
  at::Tensor in = input.is_contiguous() ? input : input.contiguous();
  at::Tensor out = at::empty(withRows(input, input.size(0) * size_), input.options());
  state_->computeWaits(
      state_->launch(rank_, size_, "allGather", opts.timeout, {in, out},
                     [&](ncclComm_t comm, cudaStream_t stream) {
                       AGREID_NCCL_CHECK(ncclAllGather(in.data_ptr(), out.data_ptr(), in.numel(),
                                                       ncclType(in.scalar_type()), comm, stream));
                     }));
  return out;
}

at::Tensor NcclCommunicator::allGatherV(const at::Tensor& input, const AllGatherOptions& opts) {
  checkOnDevice(input, device_, "allGatherV");
  AGREID_CHECK(input.dim() >= 1, kBackend, "::allGatherV: needs at least one dimension");
  int64_t inner = 1;
  for (int64_t d = 1; d < input.dim(); ++d) inner *= input.size(d);
  // Exchange (rows, elements per row) through device memory, then read them on the host.
  at::Tensor rows = at::empty({2 * static_cast<int64_t>(size_)}, input.options().dtype(at::kLong));
  rows.narrow(0, 2 * rank_, 1).fill_(input.size(0));
  rows.narrow(0, 2 * rank_ + 1, 1).fill_(inner);
  int64_t* host_rows = state_->host_rows;
  state_->hostWait(state_->launch(
      rank_, size_, "allGatherV", opts.timeout, {rows}, [&](ncclComm_t comm, cudaStream_t stream) {
        auto* base = static_cast<int64_t*>(rows.data_ptr());
        AGREID_NCCL_CHECK(ncclAllGather(base + 2 * rank_, base, 2, ncclInt64, comm, stream));
        AGREID_CUDA_CHECK(cudaMemcpyAsync(host_rows, base, 2 * sizeof(int64_t) * size_,
                                          cudaMemcpyDeviceToHost, stream));
      }));
  std::vector<int64_t> counts(size_), offsets(size_);
  int64_t total_rows = 0, offset = 0;
  for (int r = 0; r < size_; ++r) {
    if (host_rows[2 * r + 1] != inner) {
      throw CommError("allGatherV: rank " + std::to_string(r) + " sends rows of " +
                      std::to_string(host_rows[2 * r + 1]) + " elements but rank " +
                      std::to_string(rank_) + " has rows of " + std::to_string(inner));
    }
    counts[r] = host_rows[2 * r] * inner;
    offsets[r] = offset;
    offset += counts[r];
    total_rows += host_rows[2 * r];
  }
  at::Tensor in = input.is_contiguous() ? input : input.contiguous();
  at::Tensor out = at::empty(withRows(input, total_rows), input.options());
  const size_t element = in.element_size();
  state_->computeWaits(
      state_->launch(rank_, size_, "allGatherV", opts.timeout, {in, out},
                     [&](ncclComm_t comm, cudaStream_t stream) {
                       const ncclDataType_t type = ncclType(in.scalar_type());
                       auto* base = static_cast<char*>(out.data_ptr());
                       AGREID_NCCL_CHECK(ncclGroupStart());
                       for (int r = 0; r < size_; ++r) {
                         if (counts[r] == 0) continue;
                         AGREID_NCCL_CHECK(ncclBroadcast(in.data_ptr(), base + offsets[r] * element,
                                                         counts[r], type, r, comm, stream));
                       }
                       AGREID_NCCL_CHECK(ncclGroupEnd());
                     }));
  return out;
}

at::Tensor NcclCommunicator::reduceScatter(const at::Tensor& input,
                                           const ReduceScatterOptions& opts) {
  checkOnDevice(input, device_, "reduceScatter");
  checkReduceOp(opts.op, input.scalar_type(), kBackend, "reduceScatter");
  AGREID_CHECK(input.dim() >= 1 && input.size(0) % size_ == 0, kBackend,
               "::reduceScatter: the first dimension (", input.sizes(),
               ") must be a multiple of the world size ", size_);
  at::Tensor in = input.is_contiguous() ? input : input.contiguous();
  at::Tensor out = at::empty(withRows(input, input.size(0) / size_), input.options());
  const ncclRedOp_t op = ncclOp(opts.op);
  state_->computeWaits(state_->launch(rank_, size_, "reduceScatter", opts.timeout, {in, out},
                                      [&](ncclComm_t comm, cudaStream_t stream) {
                                        AGREID_NCCL_CHECK(ncclReduceScatter(
                                            in.data_ptr(), out.data_ptr(), out.numel(),
                                            ncclType(in.scalar_type()), op, comm, stream));
                                      }));
  return out;
}

void NcclCommunicator::barrier(const BarrierOptions& opts) {
  float* buffer = state_->barrier_buffer;
  state_->hostWait(state_->launch(
      rank_, size_, "barrier", opts.timeout, {}, [&](ncclComm_t comm, cudaStream_t stream) {
        AGREID_NCCL_CHECK(ncclAllReduce(buffer, buffer, 1, ncclFloat32, ncclSum, comm, stream));
      }));
}

}  // namespace agreid::comm
