// Evaluation benchmark: agreid's blockwise evaluation vs the NumPy reference
// (bench/eval_reference.py) on the same synthetic features, at Market-1501 size (3,368 queries x
// 15,913 gallery, 1,280-d) and MSMT17 size (11,659 x 82,161, 1,280-d). Reports wall time of the
// evaluation (file reading excluded), peak RSS of each process (from /usr/bin/time -v, file
// reading included) and the largest metric difference (mAP, mINP, CMC 1..50).
//
//   eval_bench all --preset market|msmt [--dir DIR] [--block N] [--skip-numpy]
//   eval_bench generate --preset P --dir DIR      (writes DIR/query.h5, DIR/gallery.h5)
//   eval_bench run --query Q --gallery G [--block N]   (agreid evaluation, "key value" lines)
//
// Synthetic features: identity centres on the unit sphere plus a camera offset and per-sample
// Gaussian noise of varying strength, so that metrics are far from 0 and 1; Market size includes
// 2,798 distractors (pid 0) as the real gallery does.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "base/error.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"

namespace {

using agreid::trainer::FeatureSet;

struct Preset {
  int64_t identities, queries, gallery, distractors, cameras, dim;
};

Preset presetOf(const std::string& name) {
  if (name == "market") return {750, 3368, 15913, 2798, 6, 1280};
  if (name == "msmt") return {3060, 11659, 82161, 0, 15, 1280};
  if (name == "tiny") return {50, 200, 1000, 100, 4, 64};
  throw agreid::InputError("eval_bench: unknown preset '" + name + "' (market, msmt, tiny)");
}

FeatureSet makeSet(const at::Tensor& centres, const at::Tensor& cam_offsets, int64_t n,
                   int64_t distractors, bool query, at::Generator& gen) {
  const int64_t ids = centres.size(0), dim = centres.size(1), cams = cam_offsets.size(0);
  const int64_t real = n - distractors;
  at::Tensor pid = at::arange(real, at::kLong).remainder(ids);
  at::Tensor cam = at::randint(cams, {n}, gen, at::kLong);
  at::Tensor noise_scale = at::rand({n, 1}, gen).pow(2).mul(7.0).add(1.0);
  at::Tensor base = at::cat({centres.index_select(0, pid),
                             at::randn({distractors, dim}, gen).div(std::sqrt(double(dim)))});
  at::Tensor x = base + cam_offsets.index_select(0, cam) * 0.4 +
                 at::randn({n, dim}, gen).div(std::sqrt(double(dim))).mul(noise_scale);
  FeatureSet set;
  set.features = x.to(at::kFloat).contiguous();
  at::Tensor all_pid = at::cat({pid.add(1), at::zeros({distractors}, at::kLong)});
  set.pid.assign(all_pid.data_ptr<int64_t>(), all_pid.data_ptr<int64_t>() + n);
  set.camid.assign(cam.data_ptr<int64_t>(), cam.data_ptr<int64_t>() + n);
  for (int64_t i = 0; i < n; ++i) set.index.push_back(i);
  set.info = {"synthetic", "none", query ? "query" : "gallery", "reid", "none"};
  return set;
}

void generate(const std::string& preset_name, const std::string& dir) {
  const Preset p = presetOf(preset_name);
  at::Generator gen = at::detail::createCPUGenerator(20240601);
  const at::Tensor centres = at::randn({p.identities, p.dim}, gen).div(std::sqrt(double(p.dim)));
  const at::Tensor cams = at::randn({p.cameras, p.dim}, gen).div(std::sqrt(double(p.dim)));
  std::filesystem::create_directories(dir);
  agreid::trainer::writeFeaturesFile(dir + "/query.h5",
                                     makeSet(centres, cams, p.queries, 0, true, gen));
  agreid::trainer::writeFeaturesFile(dir + "/gallery.h5",
                                     makeSet(centres, cams, p.gallery, p.distractors, false, gen));
}

void run(const std::string& query_path, const std::string& gallery_path, int64_t block) {
  const FeatureSet query = agreid::trainer::readFeaturesFile(query_path);
  const FeatureSet gallery = agreid::trainer::readFeaturesFile(gallery_path);
  agreid::trainer::EvalOptions options;
  options.block_size = block;
  const auto start = std::chrono::steady_clock::now();
  const auto r = agreid::trainer::evaluate(query, gallery, options, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("all.mAP %.17g\nall.mINP %.17g\nall.num_valid_query %lld\n", r.all.map, r.all.minp,
              static_cast<long long>(r.all.num_valid_query));
  for (size_t k = 0; k < r.all.cmc.size(); ++k) {
    std::printf("all.cmc%zu %.17g\n", k + 1, r.all.cmc[k]);
  }
  std::printf("time_s %.3f\nthreads %d\n", seconds, at::get_num_threads());
}

struct Measured {
  std::map<std::string, double> values;
  double max_rss_mb = 0;
};

// Runs `command` under /usr/bin/time -v; parses "key value" lines and the peak RSS.
Measured measure(const std::string& command, const std::string& log) {
  const std::string full = "/usr/bin/time -v " + command + " > " + log + ".out 2> " + log + ".err";
  if (std::system(full.c_str()) != 0) {
    throw std::runtime_error("failed: " + command + " (see " + log + ".err)");
  }
  Measured m;
  std::ifstream out(log + ".out");
  std::string key, value;
  while (out >> key >> value) m.values[key] = std::stod(value);
  std::ifstream err(log + ".err");
  std::string line;
  const std::string tag = "Maximum resident set size (kbytes): ";
  while (std::getline(err, line)) {
    const size_t at = line.find(tag);
    if (at != std::string::npos) m.max_rss_mb = std::stod(line.substr(at + tag.size())) / 1024.0;
  }
  return m;
}

int all(const std::string& self, const std::string& preset, std::string dir, int64_t block,
        bool skip_numpy) {
  if (dir.empty())
    dir = (std::filesystem::temp_directory_path() / ("eval_bench_" + preset)).string();
  const Preset p = presetOf(preset);
  std::cerr << "generating " << preset << " features in " << dir << "\n";
  generate(preset, dir);
  const std::string q = dir + "/query.h5", g = dir + "/gallery.h5";
  std::cerr << "agreid evaluation...\n";
  const Measured ours =
      measure(self + " run --query " + q + " --gallery " + g + " --block " + std::to_string(block),
              dir + "/agreid");
  std::printf("| %s | %lld x %lld x %lld | agreid (block %lld, %d threads) | %.2f s | %.0f MB |",
              preset.c_str(), (long long)p.queries, (long long)p.gallery, (long long)p.dim,
              (long long)block, int(ours.values.at("threads")), ours.values.at("time_s"),
              ours.max_rss_mb);
  std::printf(" mAP %.4f, R1 %.4f, mINP %.4f |\n", ours.values.at("all.mAP"),
              ours.values.at("all.cmc1"), ours.values.at("all.mINP"));
  if (skip_numpy) return 0;
  std::cerr << "NumPy reference...\n";
  const Measured ref = measure(std::string(AGREID_PYTHON) + " " + AGREID_SOURCE_DIR +
                                   "/bench/eval_reference.py --query " + q + " --gallery " + g,
                               dir + "/numpy");
  double worst = 0;
  for (const auto& [key, v] : ours.values) {
    if (key.rfind("all.", 0) != 0) continue;
    worst = std::max(worst, std::abs(v - ref.values.at(key)));
  }
  std::printf(
      "| %s | %lld x %lld x %lld | NumPy reference | %.2f s | %.0f MB |"
      " max metric difference %.3g |\n",
      preset.c_str(), (long long)p.queries, (long long)p.gallery, (long long)p.dim,
      ref.values.at("time_s"), ref.max_rss_mb, worst);
  return worst <= 1e-6 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  const std::string mode = argc > 1 ? argv[1] : "";
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) continue;
    opt[key.substr(2)] =
        (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) ? argv[++i] : "1";
  }
  const int64_t block = opt.count("block") ? std::stoll(opt["block"]) : 4096;
  try {
    if (mode == "generate") {
      generate(opt["preset"], opt["dir"]);
    } else if (mode == "run") {
      run(opt["query"], opt["gallery"], block);
    } else if (mode == "all") {
      return all(std::filesystem::canonical("/proc/self/exe").string(),
                 opt.count("preset") ? opt["preset"] : "market", opt["dir"], block,
                 opt.count("skip-numpy") > 0);
    } else {
      std::cerr << "usage: eval_bench all|generate|run [options] (see bench/eval_bench.cc)\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
