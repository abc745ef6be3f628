// The stage-1 objective on W ranks (ranks as threads) against one rank: the prompts shared out
// over the ranks give the same text features, SupCon and averaged prompt-token gradient; the
// per-rank alignment terms average to the one-rank term.
#include "trainer/stages/stage1_objective.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <vector>

#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/text_transformer.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {
namespace {

struct Outcome {
  at::Tensor text, supcon, grad, attr;
};

class Stage1Objective : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string vocab = testing::clipVocabPath();
    if (vocab.empty()) GTEST_SKIP() << "CLIP vocabulary not found";
    tokenizer_ = std::make_unique<ClipTokenizer>(vocab);
    torch::manual_seed(7);
    TextConfig tc;
    tc.width = 32;
    tc.layers = 2;
    tc.heads = 2;
    tc.output_dim = 16;
    text_ = std::make_unique<TextTransformer>(tc);
    for (auto& p : text_->parameters()) p.set_requires_grad(false);
    plo_.template_text = "A photo of a X X person with X hair.";
    plo_.num_classes = 6;
    learner_ = std::make_shared<PromptLearner>(*tokenizer_, *text_, plo_);
    AttributeEncoderOptions eo;
    eo.input_dim = 16;
    eo.num_tokens = learner_->numTokens();
    eo.width = 16;
    eo.layers = 1;
    eo.heads = 2;
    eo.ffn = 32;
    eo.token_dim = 32;
    encoder_ = std::make_shared<AttributeEncoder>(eo);
    batch_.labels = torch::tensor({0, 1, 1, 2, 3, 0, 4, 2, 1, 4, 0, 3}, torch::kLong);
    batch_.host_labels = batch_.labels;
    batch_.features = torch::randn({12, 16});
  }

  // Runs the objective on `world` ranks; rank 0's outcome, the gradient averaged over ranks and
  // the alignment term averaged over ranks.
  Outcome run(int world) {
    Outcome out;
    std::mutex m;
    comm::runRanks(world, [&](comm::Communicator& comm) {
      PromptLearner learner(*tokenizer_, *text_, plo_);
      {
        torch::NoGradGuard g;
        learner.ctx.copy_(learner_->ctx);
      }
      const at::Tensor t = stage1TextFeatures(batch_, learner, *text_, comm);
      const at::Tensor supcon = stage1SupCon(batch_, t);
      supcon.backward();
      at::Tensor grad = learner.ctx.grad().clone();
      comm::AllReduceOptions avg;
      avg.op = comm::ReduceOp::kAvg;
      comm.allReduce(grad, avg)->wait();
      // The encoder is only read here (no backward), so the ranks may share it.
      Stage1ObjectiveOptions oo;
      at::Tensor attr;
      {
        torch::NoGradGuard g;
        attr = stage1Alignment(batch_, learner, *encoder_, oo, comm.rank(), comm.size());
      }
      at::Tensor attr_avg = attr.reshape({1}).clone();
      comm.allReduce(attr_avg, avg)->wait();
      if (comm.rank() == 0) {
        std::lock_guard<std::mutex> lock(m);
        out = {t.detach().clone(), supcon.detach().clone(), grad, attr_avg.reshape({})};
      }
    });
    return out;
  }

  PromptLearnerOptions plo_;
  std::unique_ptr<ClipTokenizer> tokenizer_;
  std::unique_ptr<TextTransformer> text_;
  std::shared_ptr<PromptLearner> learner_;
  std::shared_ptr<AttributeEncoder> encoder_;
  Stage1Batch batch_;
};

TEST_F(Stage1Objective, SharedPromptsOnWRanksEqualOneRank) {
  const Outcome one = run(1);
  ASSERT_EQ(one.text.size(0), 12);
  for (int world : {2, 3, 4}) {  // 5 distinct labels: shares of 3, 2 and 2 (padded)
    SCOPED_TRACE("world " + std::to_string(world));
    const Outcome w = run(world);
    EXPECT_TRUE(torch::allclose(w.text, one.text, 1e-5, 1e-6));
    EXPECT_NEAR(w.supcon.item<double>(), one.supcon.item<double>(), 1e-5);
    // Float rounding only (the average over W ranks divides by W): relative to the largest entry.
    EXPECT_LE((w.grad - one.grad).abs().max().item<double>(),
              1e-5 * one.grad.abs().max().item<double>());
    EXPECT_NEAR(w.attr.item<double>(), one.attr.item<double>(), 1e-5);
  }
  // Identity 5 is not in the batch: no gradient reaches its tokens.
  EXPECT_EQ(one.grad[5].abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace agreid::trainer
