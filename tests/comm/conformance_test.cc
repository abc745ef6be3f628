// Conformance suite: arithmetic checks of every collective, op and dtype, run against every
// Communicator implementation (see conformance.h). Values are small integers so that every dtype,
// bfloat16 included, represents the expected results exactly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "comm/communicator.h"
#include "tests/comm/conformance.h"

namespace agreid::comm::testing {
namespace {

const std::vector<c10::ScalarType> kDtypes = {at::kFloat, at::kDouble, at::kBFloat16, at::kInt,
                                              at::kLong};

void expectSame(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  const at::Tensor a = actual.cpu();
  const at::Tensor e = expected.cpu().to(a.scalar_type());
  ASSERT_EQ(a.sizes(), e.sizes()) << what;
  EXPECT_TRUE(at::equal(a, e)) << what << "\nactual:\n" << a << "\nexpected:\n" << e;
}

std::string label(const Communicator& comm, c10::ScalarType dtype) {
  return "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) + ", " +
         c10::toString(dtype);
}

TEST_P(ConformanceTest, AllReduceSumEveryDtype) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    const int64_t n = comm.size();
    for (auto dtype : kDtypes) {
      // element i on rank r is (r + 1) * (i % 7): the sum is n(n+1)/2 * (i % 7).
      const at::Tensor pattern = at::arange(24, at::kLong).remainder(7).reshape({4, 6});
      at::Tensor t = (pattern * (comm.rank() + 1)).to(dtype).to(device);
      comm.allReduce(t)->wait();
      expectSame(t, pattern * (n * (n + 1) / 2), "sum, " + label(comm, dtype));
    }
  });
}

TEST_P(ConformanceTest, AllReduceMaxMinAvg) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    const int64_t n = comm.size();
    const int64_t r = comm.rank();
    for (auto dtype : kDtypes) {
      // Even elements are r+1, odd ones -(r+1).
      const at::Tensor sign = at::tensor({1, -1, 1, -1, 1}, at::kLong);
      at::Tensor mx = (sign * (r + 1)).to(dtype).to(device);
      at::Tensor mn = mx.clone();
      comm.allReduce(mx, {ReduceOp::kMax})->wait();
      comm.allReduce(mn, {ReduceOp::kMin})->wait();
      expectSame(mx, at::tensor(std::vector<int64_t>{n, -1, n, -1, n}, at::kLong),
                 "max, " + label(comm, dtype));
      expectSame(mn, at::tensor(std::vector<int64_t>{1, -n, 1, -n, 1}, at::kLong),
                 "min, " + label(comm, dtype));
      if (c10::isFloatingType(dtype)) {
        // avg of 2(r+1) over ranks is n+1.
        at::Tensor avg = at::full({3, 2}, 2 * (r + 1), at::kLong).to(dtype).to(device);
        comm.allReduce(avg, {ReduceOp::kAvg})->wait();
        expectSame(avg, at::full({3, 2}, n + 1, at::kLong), "avg, " + label(comm, dtype));
      } else {
        at::Tensor avg = at::ones({2}, dtype).to(device);
        EXPECT_THROW(comm.allReduce(avg, {ReduceOp::kAvg}), InternalError) << label(comm, dtype);
      }
    }
  });
}

TEST_P(ConformanceTest, SeveralOutstandingAllReducesCompleteInAnyWaitOrder) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    const int64_t n = comm.size();
    constexpr int kCount = 5;
    std::vector<at::Tensor> tensors;
    std::vector<std::unique_ptr<Work>> works;
    for (int k = 0; k < kCount; ++k) {
      // Tensor k holds (k+1)(r+1) and has its own size, from 1 element to 64 Ki.
      tensors.push_back(at::full({int64_t{1} << (4 * k)}, (k + 1) * (comm.rank() + 1),
                                 at::TensorOptions().dtype(at::kFloat).device(device)));
      works.push_back(comm.allReduce(tensors.back()));
    }
    for (int k = kCount - 1; k >= 0; --k) works[k]->wait();
    for (int k = 0; k < kCount; ++k) {
      expectSame(tensors[k], at::full({int64_t{1} << (4 * k)}, (k + 1) * n * (n + 1) / 2),
                 "outstanding allReduce " + std::to_string(k));
    }
  });
}

TEST_P(ConformanceTest, NonContiguousTensorsAreReducedAndBroadcastInPlace) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    const int64_t n = comm.size();
    for (auto dtype : {at::kFloat, at::kBFloat16, at::kLong}) {
      at::Tensor base = at::full({4, 6}, -5, at::kLong).to(dtype).to(device);
      at::Tensor columns = base.narrow(1, 1, 3);  // rows of 3 with a stride of 6
      ASSERT_FALSE(columns.is_contiguous());
      columns.fill_(comm.rank() + 1);
      comm.allReduce(columns)->wait();
      at::Tensor expected = at::full({4, 6}, -5, at::kLong);
      expected.narrow(1, 1, 3).fill_(n * (n + 1) / 2);
      expectSame(base, expected, "non-contiguous allReduce, " + label(comm, dtype));

      at::Tensor transposed =
          at::full({3, 5}, comm.rank() == 0 ? 7 : 0, at::kLong).to(dtype).to(device).t();
      ASSERT_FALSE(transposed.is_contiguous());
      comm.broadcast(transposed);
      expectSame(transposed, at::full({5, 3}, 7, at::kLong),
                 "non-contiguous broadcast, " + label(comm, dtype));
    }
  });
}

TEST_P(ConformanceTest, BroadcastFromEveryRoot) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    for (auto dtype : kDtypes) {
      for (int root = 0; root < comm.size(); ++root) {
        at::Tensor t = (at::arange(6, at::kLong) + 10 * comm.rank()).to(dtype).to(device);
        comm.broadcast(t, {root});
        expectSame(t, at::arange(6, at::kLong) + 10 * root,
                   "broadcast from " + std::to_string(root) + ", " + label(comm, dtype));
      }
    }
  });
}

TEST_P(ConformanceTest, AllGatherConcatenatesInRankOrder) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    for (auto dtype : kDtypes) {
      at::Tensor local = (at::arange(6, at::kLong).reshape({2, 3}) + 10 * comm.rank());
      at::Tensor gathered = comm.allGather(local.to(dtype).to(device));
      std::vector<at::Tensor> blocks;
      for (int r = 0; r < comm.size(); ++r)
        blocks.push_back(at::arange(6, at::kLong).reshape({2, 3}) + 10 * r);
      EXPECT_EQ(gathered.device(), device);
      expectSame(gathered, at::cat(blocks, 0), "allGather, " + label(comm, dtype));
    }
  });
}

TEST_P(ConformanceTest, AllGatherVWithARankContributingNoRows) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    // Rank r contributes r % 3 rows (rank 0 none) of [r, row, 0..3].
    auto rowsOf = [](int r) {
      const int64_t rows = r % 3;
      at::Tensor t = at::zeros({rows, 2, 2}, at::kLong);
      for (int64_t i = 0; i < rows; ++i) {
        t[i][0].fill_(r);
        t[i][1].fill_(i);
      }
      return t;
    };
    for (auto dtype : kDtypes) {
      at::Tensor gathered = comm.allGatherV(rowsOf(comm.rank()).to(dtype).to(device));
      std::vector<at::Tensor> blocks;
      for (int r = 0; r < comm.size(); ++r) blocks.push_back(rowsOf(r));
      expectSame(gathered, at::cat(blocks, 0), "allGatherV, " + label(comm, dtype));
    }
    // Every rank empty.
    at::Tensor none = comm.allGatherV(at::zeros({0, 4}, at::TensorOptions().device(device)));
    EXPECT_EQ(none.sizes(), (std::vector<int64_t>{0, 4}));
  });
}

TEST_P(ConformanceTest, ReduceScatterGivesEachRankItsReducedSlice) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    const int64_t n = comm.size();
    const int64_t r = comm.rank();
    for (auto dtype : kDtypes) {
      // Row j on rank r holds (r+1)(j+1); rank r gets rows 2r and 2r+1 summed over ranks.
      at::Tensor rows =
          (at::arange(1, 2 * n + 1, at::kLong).unsqueeze(1) * (r + 1)).expand({2 * n, 3});
      at::Tensor slice = comm.reduceScatter(rows.to(dtype).to(device));
      at::Tensor expected =
          (at::arange(2 * r + 1, 2 * r + 3, at::kLong).unsqueeze(1) * (n * (n + 1) / 2))
              .expand({2, 3});
      expectSame(slice, expected, "reduceScatter sum, " + label(comm, dtype));
      EXPECT_EQ(slice.scalar_type(), dtype);
      at::Tensor maxed = comm.reduceScatter(rows.to(dtype).to(device), {ReduceOp::kMax});
      expectSame(maxed, at::arange(2 * r + 1, 2 * r + 3, at::kLong).unsqueeze(1).expand({2, 3}) * n,
                 "reduceScatter max, " + label(comm, dtype));
      if (c10::isFloatingType(dtype)) {
        at::Tensor avg = comm.reduceScatter(
            at::full({2 * n}, 2 * (r + 1), at::kLong).to(dtype).to(device), {ReduceOp::kAvg});
        expectSame(avg, at::full({2}, n + 1, at::kLong),
                   "reduceScatter avg, " + label(comm, dtype));
      }
    }
  });
}

TEST_P(ConformanceTest, UnsupportedDtypeAndWrongDeviceAreRejected) {
  const auto device = harness_->device();
  harness_->run([&](Communicator& comm) {
    at::Tensor half = at::zeros({4}, at::TensorOptions().dtype(at::kHalf).device(device));
    try {
      comm.allReduce(half);
      ADD_FAILURE() << "float16 was accepted";
    } catch (const InternalError& e) {
      EXPECT_NE(std::string(e.what()).find("unsupported dtype"), std::string::npos) << e.what();
    }
    // A tensor on the wrong device: CPU backends get a meta tensor, CUDA backends a CPU one.
    at::Tensor wrong =
        device.is_cpu() ? at::zeros({4}, at::TensorOptions().device(at::kMeta)) : at::zeros({4});
    try {
      comm.broadcast(wrong);
      ADD_FAILURE() << "a tensor on " << wrong.device() << " was accepted";
    } catch (const InternalError& e) {
      EXPECT_NE(std::string(e.what()).find(device.is_cpu() ? "expected a CPU tensor"
                                                           : "expected a CUDA tensor"),
                std::string::npos)
          << e.what();
    }
    comm.barrier();  // the rejected calls communicated nothing: the group is still in step
    at::Tensor ok = at::ones({1}, at::TensorOptions().device(device));
    comm.allReduce(ok)->wait();
    expectSame(ok, at::full({1}, comm.size()), "allReduce after rejected calls");
  });
}

INSTANTIATE_TEST_SUITE_P(Comm, ConformanceTest, ::testing::ValuesIn(harnessesOfThisBinary()),
                         harnessName);

}  // namespace
}  // namespace agreid::comm::testing
