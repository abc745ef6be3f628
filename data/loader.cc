#include "data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "base/check.h"
#include "base/error.h"
#include "data/dataset.h"
#include "data/jpeg_codec.h"

namespace agreid::data {
namespace {

// One batch in flight. Workers fill disjoint slots of `batch.images`.
struct InFlight {
  Batch batch;
  int64_t remaining = 0;     // samples not yet transformed
  bool ready = false;        // all samples done (or an error was recorded)
  std::exception_ptr error;  // first error of this batch
};

// One sample to decode: its bytes live in a shared run buffer.
struct Task {
  std::shared_ptr<InFlight> slot;
  int64_t position = 0;  // row in the batch
  int64_t index = 0;     // dataset sample index
  std::shared_ptr<const std::vector<uint8_t>> run;
  size_t offset = 0, size = 0;
};

}  // namespace

struct Loader::Impl {
  Impl(const std::string& dataset_path, LoaderPlan p, LoaderOptions o)
      : path(dataset_path), plan(std::move(p)), options(o), transform(plan.transform, plan.mode) {
    ReaderOptions ro;
    ro.file_locking = options.hdf5_file_locking;
    reader = std::make_unique<DatasetReader>(path, ro);
    table = &reader->samples();
    const int64_t n = reader->size();
    for (const auto& b : plan.batches)
      for (int64_t i : b)
        if (i < 0 || i >= n) {
          throw InputError(detail::concat(path, ": sample index ", i,
                                          " out of range (the file has ", n, " samples)"));
        }
    AGREID_CHECK(
        plan.start_batch >= 0 && plan.start_batch <= static_cast<int64_t>(plan.batches.size()),
        "start_batch ", plan.start_batch, " of ", plan.batches.size());
    pin = options.pin_memory && at::hasCUDA();
    next_batch = plan.start_batch;
    const int64_t workers = std::max<int64_t>(1, options.num_workers);
    io_thread = std::thread([this] { ioLoop(); });
    for (int64_t w = 0; w < workers; ++w) worker_threads.emplace_back([this] { workerLoop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    space_cv.notify_all();
    task_cv.notify_all();
    ready_cv.notify_all();
    if (io_thread.joinable()) io_thread.join();
    for (auto& t : worker_threads) t.join();
  }

  std::shared_ptr<InFlight> newSlot(const std::vector<int64_t>& indices) {
    const auto b = static_cast<int64_t>(indices.size());
    auto slot = std::make_shared<InFlight>();
    Batch& batch = slot->batch;
    batch.images = at::empty({b, 3, transform.height(), transform.width()},
                             at::TensorOptions().dtype(at::kFloat).pinned_memory(pin));
    batch.pid = at::empty({b}, at::kLong);
    batch.camid = at::empty({b}, at::kLong);
    batch.label = at::empty({b}, at::kLong);
    batch.index = at::empty({b}, at::kLong);
    batch.occluded = at::empty({b}, at::kLong);
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = indices[k];
      batch.pid.data_ptr<int64_t>()[k] = table->pid[i];
      batch.camid.data_ptr<int64_t>()[k] = table->camid[i];
      batch.label.data_ptr<int64_t>()[k] = table->label[i];
      batch.index.data_ptr<int64_t>()[k] = i;
      batch.occluded.data_ptr<int64_t>()[k] = table->occluded[i];
    }
    slot->remaining = b;
    return slot;
  }

  // Reads the bytes of one batch, one readJpegRange per run of consecutive indices.
  std::vector<Task> readBatch(const std::vector<int64_t>& indices,
                              const std::shared_ptr<InFlight>& slot) {
    const auto& offsets = table->offsets;
    std::vector<std::pair<int64_t, int64_t>> order;  // (index, position)
    for (size_t k = 0; k < indices.size(); ++k) order.emplace_back(indices[k], k);
    std::sort(order.begin(), order.end());
    std::vector<Task> tasks;
    size_t start = 0;
    while (start < order.size()) {
      size_t end = start + 1;
      while (end < order.size() && order[end].first <= order[end - 1].first + 1) ++end;
      const int64_t first = order[start].first, last = order[end - 1].first + 1;
      auto run = std::make_shared<const std::vector<uint8_t>>(reader->readJpegRange(first, last));
      for (size_t k = start; k < end; ++k) {
        const int64_t i = order[k].first;
        Task t;
        t.slot = slot;
        t.position = order[k].second;
        t.index = i;
        t.run = run;
        t.offset = static_cast<size_t>(offsets[i] - offsets[first]);
        t.size = static_cast<size_t>(offsets[i + 1] - offsets[i]);
        tasks.push_back(std::move(t));
      }
      start = end;
    }
    return tasks;
  }

  void ioLoop() {
    for (size_t b = static_cast<size_t>(plan.start_batch); b < plan.batches.size(); ++b) {
      {
        std::unique_lock<std::mutex> lock(mu);
        space_cv.wait(lock, [&] {
          return stop || static_cast<int64_t>(in_flight.size()) <
                             std::max<int64_t>(1, options.prefetch_batches);
        });
        if (stop) return;
      }
      std::shared_ptr<InFlight> slot;
      std::vector<Task> tasks;
      try {
        slot = newSlot(plan.batches[b]);
        tasks = readBatch(plan.batches[b], slot);
      } catch (...) {
        if (!slot) slot = std::make_shared<InFlight>();
        slot->error = std::current_exception();
        tasks.clear();
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        if (slot->error || slot->remaining == 0) slot->ready = true;
        in_flight.push_back(slot);
        for (auto& t : tasks) pending.push_back(std::move(t));
      }
      ready_cv.notify_all();
      task_cv.notify_all();
    }
  }

  void workerLoop() {
    const int64_t plane = 3 * transform.height() * transform.width();
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu);
        task_cv.wait(lock, [&] { return stop || !pending.empty(); });
        if (stop) return;
        task = std::move(pending.front());
        pending.pop_front();
      }
      std::exception_ptr error;
      try {
        const std::string context =
            detail::concat(path, " sample ", task.index, " (", table->path[task.index], ")");
        const RgbImage image = decodeJpeg(task.run->data() + task.offset, task.size, context);
        float* out = task.slot->batch.images.data_ptr<float>() + task.position * plane;
        transform.apply(image, SampleKey{plan.seed, plan.epoch, task.index}, out);
      } catch (...) {
        error = std::current_exception();
      }
      bool done = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (error && !task.slot->error) task.slot->error = error;
        done = --task.slot->remaining == 0;
        if (done) task.slot->ready = true;
      }
      if (done) ready_cv.notify_all();
    }
  }

  std::optional<Batch> next() {
    if (next_batch >= static_cast<int64_t>(plan.batches.size())) return std::nullopt;
    std::shared_ptr<InFlight> slot;
    {
      std::unique_lock<std::mutex> lock(mu);
      ready_cv.wait(lock, [&] { return !in_flight.empty() && in_flight.front()->ready; });
      slot = in_flight.front();
      in_flight.pop_front();
    }
    space_cv.notify_all();
    ++next_batch;
    if (slot->error) std::rethrow_exception(slot->error);
    return std::move(slot->batch);
  }

  std::string path;
  LoaderPlan plan;
  LoaderOptions options;
  ImageTransform transform;
  std::unique_ptr<DatasetReader> reader;  // HDF5 reads only on the I/O thread after construction
  const SampleTable* table = nullptr;     // immutable metadata, read by all threads
  bool pin = false;
  int64_t next_batch = 0;

  std::mutex mu;
  std::condition_variable space_cv, task_cv, ready_cv;
  std::deque<std::shared_ptr<InFlight>> in_flight;  // in batch order
  std::deque<Task> pending;
  bool stop = false;
  std::thread io_thread;
  std::vector<std::thread> worker_threads;
};

Loader::Loader(const std::string& dataset_path, LoaderPlan plan, LoaderOptions options)
    : impl_(std::make_unique<Impl>(dataset_path, std::move(plan), options)) {}

Loader::~Loader() = default;

std::optional<Batch> Loader::next() { return impl_->next(); }

int64_t Loader::size() const {
  return static_cast<int64_t>(impl_->plan.batches.size()) - impl_->plan.start_batch;
}

}  // namespace agreid::data
