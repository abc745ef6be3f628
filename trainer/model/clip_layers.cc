#include "trainer/model/clip_layers.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "base/check.h"

namespace agreid::trainer {
namespace {

// QuickGELU(z) = z * sigmoid(1.702 z) = silu(1.702 z) / 1.702: one fused silu kernel (forward
// and backward) instead of three element-wise passes. The factors are folded into the two MLP
// products where the GEMM allows it (addmm alpha/beta).
constexpr double kQuickGeluAlpha = 1.702;

// Note [oneDNN linear]: on the CPU, fp32 products go through oneDNN (bundled with LibTorch) as 1x1
// convolutions over a channels-last view of x, because LibTorch's BLAS path is far slower on some
// builds (Debian's uses the generic BLAS interface: measured 7-10 GFLOP/s against 35-48 GFLOP/s
// for oneDNN on 2 cores, docs/model.md). Results agree with addmm to float rounding.
bool useOneDnn(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && at::hasMKLDNN() &&
         at::globalContext().userEnabledMkldnn();
}

// x2d [M, K] @ w[N, K]^T (+ b) through oneDNN.
at::Tensor oneDnnLinear(const at::Tensor& x2d, const at::Tensor& w, const at::Tensor& b) {
  const int64_t M = x2d.size(0), K = x2d.size(1), N = w.size(0);
  const auto xc = x2d.contiguous().view({1, M, 1, K}).permute({0, 3, 1, 2});  // NHWC view
  const c10::optional<at::Tensor> bias = b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt;
  const auto y = at::mkldnn_convolution(xc, w.contiguous().view({N, K, 1, 1}), bias, {0, 0}, {1, 1},
                                        {1, 1}, 1);
  return y.permute({0, 2, 3, 1}).reshape({M, N});
}

// x2d [M, K] @ w^T * scale + b * scale.
at::Tensor linear2d(const at::Tensor& x2d, const at::Tensor& w, const at::Tensor& b,
                    double scale = 1.0) {
  if (useOneDnn(x2d)) {
    auto y = oneDnnLinear(x2d, w, b);
    return scale == 1.0 ? y : y * scale;
  }
  if (!b.defined()) return scale == 1.0 ? at::mm(x2d, w.t()) : at::mm(x2d, w.t()).mul_(scale);
  return at::addmm(b, x2d, w.t(), scale, scale);
}

// x2d @ w^T * scale + b (the bias not scaled).
at::Tensor linear2dScaledProduct(const at::Tensor& x2d, const at::Tensor& w, const at::Tensor& b,
                                 double scale) {
  if (useOneDnn(x2d)) return at::add(b, oneDnnLinear(x2d, w, at::Tensor()), scale);
  return at::addmm(b, x2d, w.t(), 1.0, scale);
}

// t [B, N, ...] -> [B, ...] at one row per sample; undefined rows: row 0 of every sample.
at::Tensor gatherRows(const at::Tensor& t, const at::Tensor& rows) {
  if (!rows.defined()) return t.select(1, 0);
  return t.index({torch::arange(t.size(0), rows.options()), rows});
}

}  // namespace

at::Tensor multiHeadAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& mask) {
  const int64_t B = q.size(0), H = q.size(1), M = q.size(2), d = q.size(3), N = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto q3 = q.reshape({B * H, M, d});
  const auto k3 = k.reshape({B * H, N, d});
  const auto v3 = v.reshape({B * H, N, d});
  at::Tensor logits;
  if (mask.defined()) {
    // A shared [M, N] mask broadcasts over the batch; per-sample masks are expanded.
    const auto m3 =
        mask.dim() == 2 ? mask.unsqueeze(0) : mask.expand({B, H, M, N}).reshape({B * H, M, N});
    logits = at::baddbmm(m3, q3, k3.transpose(1, 2), 1.0, scale);
  } else {
    logits = at::bmm(q3.mul(scale), k3.transpose(1, 2));
  }
  const auto probs = at::softmax(logits, -1);
  return at::bmm(probs, v3).view({B, H, M, d}).transpose(1, 2).reshape({B, M, H * d});
}

ParamPair::ParamPair(const at::Tensor& w, const at::Tensor& b) {
  weight = register_parameter("weight", w);
  if (b.defined()) bias = register_parameter("bias", b);
}

std::shared_ptr<ParamPair> registerParamPair(torch::nn::Module& parent, const std::string& name,
                                             const at::Tensor& weight, const at::Tensor& bias) {
  return parent.register_module(name, std::make_shared<ParamPair>(weight, bias));
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  auto shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return linear2d(x.reshape({-1, x.size(-1)}), weight, bias).view(shape);
}

at::Tensor layerNorm(const at::Tensor& x, const ParamPair& ln) {
  return at::layer_norm(x, {ln.weight.size(0)}, ln.weight, ln.bias, 1e-5);
}

void setRequiresGrad(torch::nn::Module& module, bool requires_grad) {
  for (auto& p : module.parameters()) p.set_requires_grad(requires_grad);
}

ResidualAttentionBlock::ResidualAttentionBlock(int64_t width, int64_t heads,
                                               const BlockOptions& options)
    : width_(width), heads_(heads), options_(options) {
  AGREID_CHECK(width > 0 && heads > 0 && width % heads == 0, "width ", width, " heads ", heads);
  if (options_.mlp_width <= 0) options_.mlp_width = 4 * width;
  const int64_t mlp_width = options_.mlp_width;
  attn_ = register_module("attn", std::make_shared<torch::nn::Module>());
  in_proj_weight_ = attn_->register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias_ = attn_->register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj_ =
      registerParamPair(*attn_, "out_proj", torch::empty({width, width}), torch::zeros({width}));
  ln_1_ = registerParamPair(*this, "ln_1", torch::ones({width}), torch::zeros({width}));
  mlp_ = register_module("mlp", std::make_shared<torch::nn::Module>());
  c_fc_ =
      registerParamPair(*mlp_, "c_fc", torch::empty({mlp_width, width}), torch::zeros({mlp_width}));
  c_proj_ =
      registerParamPair(*mlp_, "c_proj", torch::empty({width, mlp_width}), torch::zeros({width}));
  ln_2_ = registerParamPair(*this, "ln_2", torch::ones({width}), torch::zeros({width}));
  resetParameters(1);
}

void ResidualAttentionBlock::resetParameters(int64_t layers) {
  torch::NoGradGuard no_grad;
  const double w = static_cast<double>(width_);
  const double attn_std = std::pow(w, -0.5);
  const double proj_std = attn_std * std::pow(2.0 * static_cast<double>(layers), -0.5);
  const double fc_std = std::pow(2.0 * w, -0.5);  // OpenAI: (2 width)^-0.5 for any MLP width
  in_proj_weight_.normal_(0.0, attn_std);
  in_proj_bias_.zero_();
  out_proj_->weight.normal_(0.0, proj_std);
  out_proj_->bias.zero_();
  c_fc_->weight.normal_(0.0, fc_std);
  c_fc_->bias.zero_();
  c_proj_->weight.normal_(0.0, proj_std);
  c_proj_->bias.zero_();
  for (auto* ln : {ln_1_.get(), ln_2_.get()}) {
    ln->weight.fill_(1.0);
    ln->bias.zero_();
  }
}

at::Tensor ResidualAttentionBlock::mlp(const at::Tensor& x) const {
  const auto shape = x.sizes().vec();
  const auto x2d = layerNorm(x, *ln_2_).reshape({-1, width_});
  at::Tensor out;
  if (options_.activation == Activation::kQuickGelu) {
    const auto h = at::silu(linear2d(x2d, c_fc_->weight, c_fc_->bias, kQuickGeluAlpha));
    out = linear2dScaledProduct(h, c_proj_->weight, c_proj_->bias, 1.0 / kQuickGeluAlpha);
  } else {
    const auto h = at::gelu(linear2d(x2d, c_fc_->weight, c_fc_->bias));
    out = linear2d(h, c_proj_->weight, c_proj_->bias);
  }
  return out.view(shape);
}

at::Tensor ResidualAttentionBlock::forward(const at::Tensor& x, const at::Tensor& mask) const {
  const int64_t B = x.size(0), N = x.size(1), H = heads_, d = width_ / heads_;
  const auto h = layerNorm(x, *ln_1_).reshape({B * N, width_});
  const auto qkv = linear2d(h, in_proj_weight_, in_proj_bias_).view({B, N, 3, H, d});
  const auto qkvp = qkv.permute({2, 0, 3, 1, 4});  // [3, B, H, N, d]
  const auto a = multiHeadAttention(qkvp[0], qkvp[1], qkvp[2], mask);
  const auto o = linear2d(a.reshape({B * N, width_}), out_proj_->weight, out_proj_->bias);
  const auto y = x + o.view({B, N, width_});
  return y + mlp(y);
}

at::Tensor ResidualAttentionBlock::forwardRows(const at::Tensor& x, const at::Tensor& mask,
                                               const at::Tensor& rows) const {
  const int64_t B = x.size(0), N = x.size(1), H = heads_, d = width_ / heads_;
  AGREID_CHECK(!rows.defined() || (rows.dim() == 1 && rows.size(0) == B), "rows must be [B]");
  const auto h = layerNorm(x, *ln_1_);
  const auto h_rows = gatherRows(h, rows);  // [B, width]
  const auto w = in_proj_weight_;
  const auto b = in_proj_bias_;
  const auto q = linear2d(h_rows, w.narrow(0, 0, width_), b.narrow(0, 0, width_));
  const auto kv = linear2d(h.reshape({B * N, width_}), w.narrow(0, width_, 2 * width_),
                           b.narrow(0, width_, 2 * width_))
                      .view({B, N, 2, H, d})
                      .permute({2, 0, 3, 1, 4});  // [2, B, H, N, d]
  at::Tensor row_mask;
  if (mask.defined()) {
    row_mask = rows.defined() ? mask.index_select(0, rows).view({B, 1, 1, N})
                              : mask.narrow(0, 0, 1).view({1, 1, 1, N});
  }
  const auto a = multiHeadAttention(q.view({B, 1, H, d}).transpose(1, 2), kv[0], kv[1], row_mask);
  const auto o = linear2d(a.view({B, width_}), out_proj_->weight, out_proj_->bias);
  const auto y = gatherRows(x, rows) + o;
  return y + mlp(y);
}

Transformer::Transformer(int64_t width, int64_t layers, int64_t heads, const BlockOptions& options)
    : width_(width), heads_(heads) {
  AGREID_CHECK(layers >= 1, "layers ", layers);
  auto resblocks = register_module("resblocks", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < layers; ++i) {
    blocks_.push_back(resblocks->register_module(
        std::to_string(i), std::make_shared<ResidualAttentionBlock>(width, heads, options)));
  }
  resetParameters();
}

void Transformer::resetParameters() {
  for (auto& b : blocks_) b->resetParameters(layers());
}

at::Tensor Transformer::forward(const at::Tensor& x, const at::Tensor& mask) const {
  at::Tensor y = x;
  for (const auto& b : blocks_) y = b->forward(y, mask);
  return y;
}

Transformer::RowOutput Transformer::forwardRows(const at::Tensor& x, const at::Tensor& mask,
                                                const at::Tensor& rows) const {
  at::Tensor y = x;
  for (std::size_t i = 0; i + 1 < blocks_.size(); ++i) y = blocks_[i]->forward(y, mask);
  RowOutput out;
  out.penultimate = gatherRows(y, rows);
  out.last = blocks_.back()->forwardRows(y, mask, rows);
  return out;
}

}  // namespace agreid::trainer
