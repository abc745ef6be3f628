#include "comm/all_gather_autograd.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/custom_class.h>

namespace agreid::comm {

namespace {

// Carries the communicator (and the options) into backward through the autograd context.
struct CommHandle : torch::CustomClassHolder {
  CommHandle(Communicator* comm, AllGatherOptions opts) : comm(comm), opts(opts) {}
  Communicator* comm;
  AllGatherOptions opts;
};

struct AllGatherFunction : torch::autograd::Function<AllGatherFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& local,
                            Communicator* comm, AllGatherOptions opts) {
    ctx->saved_data["comm"] =
        c10::IValue::make_capsule(c10::make_intrusive<CommHandle>(comm, opts));
    return comm->allGather(local, opts);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto handle =
        c10::static_intrusive_pointer_cast<CommHandle>(ctx->saved_data["comm"].toCapsule());
    ReduceScatterOptions opts;
    opts.op = ReduceOp::kSum;
    opts.timeout = handle->opts.timeout;
    at::Tensor grad_local = handle->comm->reduceScatter(grads[0].contiguous(), opts);
    return {grad_local, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor allGatherWithGrad(Communicator& comm, const at::Tensor& local,
                             const AllGatherOptions& opts) {
  return AllGatherFunction::apply(local, &comm, opts);
}

}  // namespace agreid::comm
