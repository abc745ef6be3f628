// ReidModel (BNNeck, classifiers, SIE, test feature), PromptLearner (placeholder filling, frozen
// text side) and AttributeEncoder (size, shapes), including gradient flow.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/reid_model.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {
namespace {

ClipArch tinyArch() {
  ClipArch a;
  a.embed_dim = 24;
  a.vision_width = 32;
  a.vision_layers = 2;
  a.vision_heads = 2;
  a.patch_size = 8;
  a.grid_h = 4;
  a.grid_w = 2;
  a.text_width = 32;
  a.text_layers = 2;
  a.text_heads = 2;
  return a;
}

ReidModelOptions tinyReid() {
  ReidModelOptions o;
  o.num_classes = 5;
  o.num_cameras = 3;
  o.image_height = 32;
  o.image_width = 16;
  o.stride = 6;  // overlapping: grid (32-8)/6+1 = 5 by (16-8)/6+1 = 2
  o.sie = true;
  o.sie_coe = 1.0;
  return o;
}

TEST(ReidModel, OutputsAndTestFeature) {
  torch::manual_seed(1);
  ReidModel model(tinyArch(), tinyReid());
  EXPECT_EQ(model.visual->config().grid_h, 5);
  EXPECT_EQ(model.visual->config().grid_w, 2);
  EXPECT_EQ(model.featureDim(), 32 + 24);
  const auto images = torch::randn({4, 3, 32, 16});
  const auto cams = torch::tensor({0, 1, 2, 0}, torch::kLong);
  model.train();
  const auto out = model.forwardTrain(images, cams);
  EXPECT_EQ(out.f_last.sizes(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(out.f.sizes(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(out.f_proj.sizes(), (std::vector<int64_t>{4, 24}));
  EXPECT_EQ(out.score.sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(out.score_proj.sizes(), (std::vector<int64_t>{4, 5}));
  // score = classifier(BN(f)) with batch statistics, weight 1, bias 0.
  const auto bn = (out.f - out.f.mean(0)) / torch::sqrt(out.f.var(0, false) + 1e-5);
  EXPECT_TRUE(torch::allclose(out.score, bn.mm(model.classifier.t()), 1e-4, 1e-6));
  model.eval();
  torch::NoGradGuard no_grad;
  const auto feat = model.forwardTest(images, cams);
  EXPECT_EQ(feat.sizes(), (std::vector<int64_t>{4, 56}));
  EXPECT_TRUE(torch::allclose(feat.norm(2, 1), torch::ones({4}), 1e-5, 1e-6));
  const auto cat = torch::cat({out.f, out.f_proj}, 1);
  EXPECT_TRUE(torch::allclose(feat, cat / cat.norm(2, 1, true), 1e-5, 1e-6));
  // SIE: the camera changes the feature.
  const auto other = model.forwardTest(images, torch::tensor({1, 1, 2, 0}, torch::kLong));
  EXPECT_FALSE(torch::allclose(other[0], feat[0]));
  EXPECT_TRUE(torch::allclose(other[1], feat[1]));
}

TEST(ReidModel, InitialisationFollowsClipReid) {
  torch::manual_seed(2);
  ReidModel model(tinyArch(), tinyReid());
  EXPECT_TRUE(torch::equal(model.bottleneck->weight, torch::ones({32})));
  EXPECT_TRUE(torch::equal(model.bottleneck->bias, torch::zeros({32})));
  EXPECT_FALSE(model.bottleneck->bias.requires_grad());
  EXPECT_FALSE(model.bottleneck_proj->bias.requires_grad());
  EXPECT_NEAR(model.classifier.std().item<double>(), 0.001, 0.0005);
  EXPECT_NEAR(model.visual->cv_embed.std().item<double>(), 0.02, 0.01);
  EXPECT_LE(model.visual->cv_embed.abs().max().item<double>(), 2.0);
  const auto names = model.named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "visual.cv_embed"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "classifier_proj.weight"), names.end());
}

TEST(ReidModel, CopiesClipVisionWeights) {
  torch::manual_seed(3);
  ClipModel clip(tinyArch());
  ReidModelOptions o = tinyReid();
  o.stride = 8;
  o.sie = false;  // same geometry as pre-training: every tensor equal
  ReidModel same(clip, o);
  EXPECT_FALSE(same.visual->cv_embed.defined());
  const auto src = clip.visual->named_parameters();
  for (const auto& p : same.visual->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), src[p.key()])) << p.key();
  }
  ReidModel olp(clip, tinyReid());
  EXPECT_EQ(olp.visual->positional_embedding.size(0), 1 + 5 * 2);
  EXPECT_TRUE(
      torch::equal(olp.visual->positional_embedding[0], clip.visual->positional_embedding[0]));
  EXPECT_TRUE(torch::equal(olp.visual->proj, clip.visual->proj));
}

TEST(ReidModel, Stage2GradientsLeaveBnBiasFrozen) {
  torch::manual_seed(4);
  ReidModel model(tinyArch(), tinyReid());
  model.train();
  const auto images = torch::randn({4, 3, 32, 16});
  const auto cams = torch::tensor({0, 1, 2, 0}, torch::kLong);
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  std::vector<at::Tensor> params;
  for (auto& p : model.parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2));
  const auto bias_before = model.bottleneck->bias.clone();
  const auto weight_before = model.bottleneck->weight.clone();
  for (int step = 0; step < 2; ++step) {
    adam.zero_grad();
    const auto out = model.forwardTrain(images, cams);
    const auto loss = torch::nn::functional::cross_entropy(out.score, labels) +
                      torch::nn::functional::cross_entropy(out.score_proj, labels);
    loss.backward();
    adam.step();
  }
  EXPECT_FALSE(model.bottleneck->bias.grad().defined());
  EXPECT_TRUE(torch::equal(model.bottleneck->bias, bias_before));
  EXPECT_TRUE(torch::equal(model.bottleneck_proj->bias, torch::zeros({24})));
  EXPECT_FALSE(torch::equal(model.bottleneck->weight, weight_before));
  EXPECT_TRUE(model.visual->conv1_weight.grad().defined());
  EXPECT_GT(model.visual->cv_embed.grad().abs().sum().item<double>(), 0.0);
}

TEST(ReidModel, BadOptionsAreInputErrors) {
  ReidModelOptions o = tinyReid();
  o.stride = 9;
  EXPECT_THROW(ReidModel(tinyArch(), o), InputError);
  o = tinyReid();
  o.num_cameras = 0;
  EXPECT_THROW(ReidModel(tinyArch(), o), InputError);
  o = tinyReid();
  o.image_height = 4;
  EXPECT_THROW(ReidModel(tinyArch(), o), InputError);
}

TEST(ReidModel, VitB16OlpGeometry) {
  ReidModelOptions o;
  o.num_classes = 10;
  o.num_cameras = 8;
  o.stride = 12;
  ReidModel model(ClipArch::vitB16(), o);
  EXPECT_EQ(model.visual->config().grid_h, 21);
  EXPECT_EQ(model.visual->config().grid_w, 10);
  EXPECT_EQ(model.visual->positional_embedding.sizes(), (std::vector<int64_t>{211, 768}));
  EXPECT_EQ(model.featureDim(), 1280);
}

class Prompts : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string vocab = agreid::testing::clipVocabPath();
    if (vocab.empty()) GTEST_SKIP() << "CLIP vocabulary not found under ../shared/clip; skipping";
    tokenizer_ = std::make_unique<ClipTokenizer>(vocab);
    torch::manual_seed(5);
    text_ = std::make_shared<TextTransformer>(tinyArch().text());
    setRequiresGrad(*text_, false);
  }
  std::unique_ptr<ClipTokenizer> tokenizer_;
  std::shared_ptr<TextTransformer> text_;
};

TEST_F(Prompts, IdentityPromptFillsPlaceholders) {
  PromptLearnerOptions o;
  o.num_classes = 6;
  PromptLearner learner(*tokenizer_, *text_, o);
  EXPECT_EQ(learner.numTokens(), 4);
  EXPECT_EQ(learner.placeholderPositions(), (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_EQ(learner.ctx.sizes(), (std::vector<int64_t>{6, 4, 32}));
  EXPECT_NEAR(learner.ctx.std().item<double>(), 0.02, 0.005);
  const auto labels = torch::tensor({3, 0, 3}, torch::kLong);
  const auto batch = learner.forward(labels);
  EXPECT_EQ(batch.embeddings.sizes(), (std::vector<int64_t>{3, 77, 32}));
  EXPECT_TRUE(torch::equal(batch.eot, torch::full({3}, 11, torch::kLong)));
  const auto e = batch.embeddings.detach();
  EXPECT_TRUE(torch::equal(e[0].narrow(0, 5, 4), learner.ctx[3].detach()));
  EXPECT_TRUE(torch::equal(e[1].narrow(0, 5, 4), learner.ctx[0].detach()));
  EXPECT_TRUE(torch::equal(e[2].narrow(0, 0, 5), learner.token_base.narrow(0, 0, 5)));
  EXPECT_TRUE(torch::equal(e[2].narrow(0, 9, 68), learner.token_base.narrow(0, 9, 68)));
}

TEST_F(Prompts, TemplateEmbeddingsGiveTheTokenisedTextFeatures) {
  // With ctx set to the embedding of "x", the prompt is the template itself.
  PromptLearnerOptions o;
  o.num_classes = 2;
  o.template_text = "A photo of a X X person with X X hair, carrying X X.";
  PromptLearner learner(*tokenizer_, *text_, o);
  EXPECT_EQ(learner.numTokens(), 6);
  {
    torch::NoGradGuard no_grad;
    const auto x = text_->embed(torch::tensor({tokenizer_->placeholderId()}, torch::kLong));
    learner.ctx.copy_(x.expand({2, 6, 32}));
    const auto ids = torch::tensor(learner.tokenIds(), torch::kLong).unsqueeze(0);
    const auto expected = text_->forward(ids);
    const auto got = learner.textFeatures(*text_, torch::tensor({1}, torch::kLong));
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));
  }
}

TEST_F(Prompts, OnlyCtxReceivesGradients) {
  PromptLearnerOptions o;
  o.num_classes = 4;
  PromptLearner learner(*tokenizer_, *text_, o);
  const auto labels = torch::tensor({1, 2, 1}, torch::kLong);
  const auto features = learner.textFeatures(*text_, labels);
  features.pow(2).sum().backward();
  ASSERT_TRUE(learner.ctx.grad().defined());
  const auto g = learner.ctx.grad().abs().sum({1, 2});
  EXPECT_GT(g[1].item<double>(), 0.0);
  EXPECT_GT(g[2].item<double>(), 0.0);
  EXPECT_EQ(g[0].item<double>(), 0.0);  // unused classes get none
  EXPECT_EQ(g[3].item<double>(), 0.0);
  EXPECT_FALSE(learner.token_base.requires_grad());
  EXPECT_FALSE(learner.token_base.grad().defined());
  for (const auto& p : text_->named_parameters()) {
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
  }
  EXPECT_EQ(learner.parameters().size(), 1u);  // only ctx is trainable
}

TEST_F(Prompts, BadTemplatesNameTheTemplate) {
  PromptLearnerOptions o;
  o.num_classes = 2;
  o.template_text = "A photo of a person.";
  try {
    PromptLearner learner(*tokenizer_, *text_, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'A photo of a person.' has no placeholder"),
              std::string::npos)
        << e.what();
  }
  o.template_text = "";
  for (int i = 0; i < 80; ++i) o.template_text += "X ";
  try {
    PromptLearner learner(*tokenizer_, *text_, o);
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("prompt template: text 'X X X"), std::string::npos) << msg;
    EXPECT_NE(msg.find("longer than the context length 77"), std::string::npos) << msg;
  }
}

TEST(AttributeEncoder, SizeShapesAndGradients) {
  torch::manual_seed(6);
  Stage1Options stage1;
  const auto o = AttributeEncoderOptions::fromConfig(stage1, 512, 16, 512);
  AttributeEncoder encoder(o);
  // in 512*256+256, queries 16*256, 4 x (qkv, out, 2 LN, FFN 256-768-256), LN, out 256*512+512.
  const int64_t layer =
      (3 * 256 * 256 + 768) + (256 * 256 + 256) + 4 * 256 + (256 * 768 + 768) + (768 * 256 + 256);
  const int64_t expected = (512 * 256 + 256) + 16 * 256 + 4 * layer + 512 + (256 * 512 + 512);
  EXPECT_EQ(countParameters(encoder), expected);
  EXPECT_EQ(expected, 2901248);
  const auto f = torch::randn({3, 512}, torch::requires_grad());
  const auto a = encoder.forward(f);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 16, 512}));
  // Different images give different tokens, and the tokens differ across positions.
  EXPECT_FALSE(torch::allclose(a[0], a[1]));
  EXPECT_FALSE(torch::allclose(a[0][0], a[0][1]));
  a.sum().backward();
  EXPECT_GT(f.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(encoder.queries.grad().abs().sum().item<double>(), 0.0);
  stage1.encoder_heads = 3;
  EXPECT_THROW(AttributeEncoder(AttributeEncoderOptions::fromConfig(stage1, 512, 16, 512)),
               InputError);
}

}  // namespace
}  // namespace agreid::trainer
