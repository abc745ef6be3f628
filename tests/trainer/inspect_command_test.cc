// `agreid inspect` on every kind of file agreid writes besides datasets (tests/data covers those)
// and CLIP weights (model_weights_test.cc): re-ID models, training checkpoints, pseudo-label
// caches and features files; a file of none of these kinds fails in one line.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "comm/thread_communicator.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/engine/checkpointer.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/pseudo_label_cache.h"
#include "trainer/stages/reid_checkpoint.h"

namespace agreid::trainer {
namespace {

using agreid::testing::lineCount;
using agreid::testing::runAgreid;
using agreid::testing::TempDir;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

// The output of a successful `agreid inspect path`.
std::string inspect(const std::string& path) {
  const auto r = runAgreid({"inspect", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(InspectCommand, ReidModel) {
  TempDir dir;
  ClipArch a;
  a.embed_dim = 24;
  a.vision_width = 32;
  a.vision_layers = 2;
  a.vision_heads = 2;
  a.patch_size = 8;
  a.grid_h = 4;
  a.grid_w = 2;
  ReidModelOptions o;
  o.num_classes = 5;
  o.num_cameras = 3;
  o.image_height = 32;
  o.image_width = 16;
  o.stride = 6;
  o.sie_coe = 1.5;
  ReidModel model(a, o);
  saveReidCheckpoint(dir.file("model_final.pt"), a, model, nullptr);
  const std::string out = inspect(dir.file("model_final.pt"));
  EXPECT_CONTAINS(out, "agreid re-ID model");
  EXPECT_CONTAINS(out, "ViT width 32, 2 layers, 2 heads, patch 8, stride 6, grid 5x2");
  EXPECT_CONTAINS(out, "input:            32x16");
  EXPECT_CONTAINS(out, "identities:       5");
  EXPECT_CONTAINS(out, "cameras:          3, SIE on (coefficient 1.5");
  EXPECT_CONTAINS(out, "test feature:     " + std::to_string(model.featureDim()));
  EXPECT_CONTAINS(out, "parameters:       " + std::to_string(countParameters(model)));
  EXPECT_CONTAINS(out, "integrity:        CRC-32 of all ");
}

TEST(InspectCommand, TrainingCheckpoint) {
  TempDir dir;
  std::string path;
  comm::runRanks(1, [&](comm::Communicator& comm) {
    torch::nn::Linear net(3, 4);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.1));
    Checkpointer ckpt({dir.path().string(), 3}, comm);
    CheckpointContents contents{net.get(), &adam, "[run]\nseed = 7\n\n[stage2]\nepochs = 3\n",
                                "key42",   64,    {{"bank", torch::eye(2)}}};
    TrainState state;
    state.step = 11;
    state.epoch = 2;
    state.batch_in_epoch = 1;
    path = ckpt.save(state, contents);
  });
  const std::string out = inspect(path);
  EXPECT_CONTAINS(out, "agreid training checkpoint (format 1)");
  EXPECT_CONTAINS(out, "step:             11\n");
  EXPECT_CONTAINS(out, "global batch:     64 images per step\n");
  EXPECT_CONTAINS(out, "epoch:            2 (batch 1 within it)");
  EXPECT_CONTAINS(out, "world size:       1\n");
  EXPECT_CONTAINS(out, "model:            2 tensors, 16 elements");
  EXPECT_CONTAINS(out, "optimizer state:  yes");
  EXPECT_CONTAINS(out, "pseudo-label key: key42");
  EXPECT_CONTAINS(out, "extra tensors:    bank [2, 2]");
  EXPECT_CONTAINS(out, "integrity:        CRC-32 of all ");
  EXPECT_CONTAINS(out, "config recorded:\n    [run]\n    seed = 7\n\n    [stage2]\n");
}

TEST(InspectCommand, PseudoLabelCache) {
  TempDir dir;
  PseudoLabelCache c;
  c.key = "k1";
  c.settings = "prompt = attribute\nepochs = 2";
  c.tokens = torch::randn({5, 3, 8});
  c.text_features = torch::randn({5, 4});
  c.identity_centres = identityCentres(torch::randn({5, 4}));
  c.readout_names = {"upper_color"};
  c.readout = torch::zeros({5, 1}, torch::kLong);
  c.readout_truth = torch::zeros({5, 1}, torch::kLong);
  const std::string path = cachePath(dir.path().string(), "k1");
  writeCache(path, c);
  const std::string out = inspect(path);
  EXPECT_CONTAINS(out, "agreid pseudo-label cache");
  EXPECT_CONTAINS(out, "key: k1");
  EXPECT_CONTAINS(out, "identity tokens V: [5, 3, 8]");
  EXPECT_CONTAINS(out, "identity image centres: [5, 4]");
  EXPECT_CONTAINS(out, "attribute readout: 1 groups, accuracy vs ground truth 1.000");
  EXPECT_CONTAINS(out, "prompt = attribute");
}

TEST(InspectCommand, FeaturesFile) {
  TempDir dir;
  auto data = testing::makeSyntheticEval({});
  data.query.info = {"market.h5", "abc123", "query", "reid", "model_final.pt"};
  writeFeaturesFile(dir.file("q.h5"), data.query);
  const std::string out = inspect(dir.file("q.h5"));
  EXPECT_CONTAINS(out, "agreid features file (format 1)");
  EXPECT_CONTAINS(out,
                  "features:         " + std::to_string(data.query.size()) + " x 16 (kind reid)");
  EXPECT_CONTAINS(out, "split:            query");
  EXPECT_CONTAINS(out, "dataset checksum: abc123");
  EXPECT_CONTAINS(out, "weights:          model_final.pt");
}

TEST(InspectCommand, ForeignFileFailsInOneLine) {
  TempDir dir;
  agreid::testing::writeFile(dir.file("notes.txt"), "hello\n");
  const auto r = runAgreid({"inspect", dir.file("notes.txt")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_CONTAINS(r.err,
                  "not an agreid dataset, pseudo-label cache, features file, re-ID model, "
                  "training checkpoint or CLIP weights");
}

// A fuzzing finding: a TorchScript archive with intact CRCs and tensors but code LibTorch's
// parser cannot read (it throws torch::jit::ErrorReport, not a c10::Error, which escaped as an
// internal error). The CLIP loader reads the tensors without parsing the code, so the file is
// usable CLIP weights; a checkpoint reader, which needs LibTorch's loader, refuses it in one line.
TEST(InspectCommand, ArchiveWithUnparsableCodeIsReadWithoutTheCode) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/fuzz/seeds/weights/torchscript-bad-code.pt";
  const auto r = runAgreid({"inspect", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "CLIP weights");
  EXPECT_EQ(countParameters(*loadClip(path)), 2369);
  comm::runRanks(1, [&](comm::Communicator& comm) {
    TempDir dir;
    torch::nn::Linear net(3, 4);
    Checkpointer ckpt({dir.path().string(), 3}, comm);
    const std::string msg = agreid::testing::inputErrorOf([&] { ckpt.loadWeights(path, *net); });
    EXPECT_CONTAINS(msg, "checkpoint " + path + ": cannot be read as an agreid checkpoint");
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  });
}

}  // namespace
}  // namespace agreid::trainer
