// Evaluation benchmark: agreid's evaluation vs its two peers on the same synthetic features, at
// Market-1501 size (3,368 queries x 15,913 gallery, 1,280-d) and MSMT17 size (11,659 x 82,161,
// 1,280-d): the bare distance GEMM of the same shapes with the same threads (one float32
// [Q, D] x [D, G] product into a preallocated, touched output: the matrix-multiply roofline), and
// the NumPy reference (bench/eval_reference.py). The evaluation and the GEMM alternate for
// --rounds rounds in one process; the best round of each is reported. Also: wall and CPU time of
// the evaluation (file reading excluded), peak RSS of each process (from /usr/bin/time -v, file
// reading included) and the largest metric difference from the reference (mAP, mINP, CMC 1..50).
//
//   eval_bench all --preset market|msmt|tiny [--dir DIR] [--threads T] [--rounds R] [--skip-numpy]
//   eval_bench generate --preset P --dir DIR      (writes DIR/query.h5, DIR/gallery.h5)
//   eval_bench run --query Q --gallery G [--threads T] [--rounds R] [--no-gemm]
//                  [--block N] [--tile-rows N] [--tile-cols N]   ("key value" lines)
// --threads: 0 (default) for every core; the GEMM's BLAS gets the same number.
//
// Synthetic features: identity centres on the unit sphere plus a camera offset and per-sample
// Gaussian noise of varying strength, so that metrics are far from 0 and 1; Market size includes
// 2,798 distractors (pid 0) as the real gallery does.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <time.h>

#include <algorithm>
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
#include "trainer/device.h"
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

struct RunOptions {
  int64_t threads = 0, rounds = 1, block = 4096;
  bool gemm = true;
  agreid::trainer::EvalTiling tiling;
};

double processCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Wall and CPU seconds of f().
template <typename F>
std::pair<double, double> timed(const F& f) {
  const double cpu0 = processCpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  f();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {wall, processCpuSeconds() - cpu0};
}

void run(const std::string& query_path, const std::string& gallery_path, const RunOptions& o) {
  const FeatureSet query = agreid::trainer::readFeaturesFile(query_path);
  const FeatureSet gallery = agreid::trainer::readFeaturesFile(gallery_path);
  agreid::trainer::configureThreads(o.threads, 1);  // LibTorch and OpenBLAS
  agreid::trainer::EvalOptions options;
  options.block_size = o.block;
  // The GEMM peer: the normalised float32 features, the product written to a touched buffer.
  at::Tensor q32, g32, product;
  if (o.gemm) {
    q32 = agreid::trainer::normalizeRows(query.features).to(at::kFloat);
    g32 = agreid::trainer::normalizeRows(gallery.features).to(at::kFloat);
    product = at::zeros({query.size(), gallery.size()}, at::kFloat);
  }
  agreid::trainer::EvalResults r;
  double best = INFINITY, best_cpu = 0, gemm_best = INFINITY, gemm_cpu = 0, sum = 0, gemm_sum = 0;
  for (int64_t round = 0; round < o.rounds; ++round) {
    if (o.gemm) {
      const auto [wall, cpu] = timed([&] { at::mm_out(product, q32, g32.t()); });
      if (wall < gemm_best) gemm_cpu = cpu;
      gemm_best = std::min(gemm_best, wall);
      gemm_sum += wall;
    }
    const auto [wall, cpu] = timed(
        [&] { r = agreid::trainer::evaluate(query, gallery, options, nullptr, {}, o.tiling); });
    if (wall < best) best = wall, best_cpu = cpu;
    sum += wall;
  }
  std::printf("all.mAP %.17g\nall.mINP %.17g\nall.num_valid_query %lld\n", r.all.map, r.all.minp,
              static_cast<long long>(r.all.num_valid_query));
  for (size_t k = 0; k < r.all.cmc.size(); ++k) {
    std::printf("all.cmc%zu %.17g\n", k + 1, r.all.cmc[k]);
  }
  const auto rounds = static_cast<double>(o.rounds);
  std::printf("time_s %.6f\ntime_mean_s %.6f\ncpu_s %.6f\nthreads %d\nrounds %lld\n", best,
              sum / rounds, best_cpu, at::get_num_threads(), static_cast<long long>(o.rounds));
  if (o.gemm) {
    std::printf("gemm_s %.6f\ngemm_mean_s %.6f\ngemm_cpu_s %.6f\ngemm_gflops %.1f\n", gemm_best,
                gemm_sum / rounds, gemm_cpu,
                2.0 * double(query.size()) * double(gallery.size()) * double(query.dim()) /
                    gemm_best * 1e-9);
  }
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

int all(const std::string& self, const std::string& preset, std::string dir, const RunOptions& o,
        bool skip_numpy) {
  if (dir.empty())
    dir = (std::filesystem::temp_directory_path() / ("eval_bench_" + preset)).string();
  const Preset p = presetOf(preset);
  std::cerr << "generating " << preset << " features in " << dir << "\n";
  generate(preset, dir);
  const std::string q = dir + "/query.h5", g = dir + "/gallery.h5";
  std::cerr << "agreid evaluation and bare GEMM, " << o.rounds << " rounds...\n";
  const Measured ours = measure(
      self + " run --query " + q + " --gallery " + g + " --threads " + std::to_string(o.threads) +
          " --rounds " + std::to_string(o.rounds) + " --block " + std::to_string(o.block),
      dir + "/agreid");
  const auto& v = ours.values;
  const int threads = static_cast<int>(v.at("threads"));
  std::printf("| %s | %lld x %lld x %lld | agreid, %d threads | %.3f s | %.0f MB |", preset.c_str(),
              (long long)p.queries, (long long)p.gallery, (long long)p.dim, threads, v.at("time_s"),
              ours.max_rss_mb);
  std::printf(" mAP %.4f, R1 %.4f, mINP %.4f; CPU %.2f s |\n", v.at("all.mAP"), v.at("all.cmc1"),
              v.at("all.mINP"), v.at("cpu_s"));
  std::printf(
      "| %s | %lld x %lld x %lld | bare GEMM, %d threads | %.3f s | | %.0f GFLOP/s;"
      " evaluation / GEMM %.2f |\n",
      preset.c_str(), (long long)p.queries, (long long)p.gallery, (long long)p.dim, threads,
      v.at("gemm_s"), v.at("gemm_gflops"), v.at("time_s") / v.at("gemm_s"));
  // Machine-readable summary for bench/all.sh.
  std::printf("RESULT eval-%s-vs-gemm %.6f %.6f\n", preset.c_str(), v.at("time_s"), v.at("gemm_s"));
  if (skip_numpy) return 0;
  std::cerr << "NumPy reference...\n";
  const Measured ref = measure(std::string(AGREID_PYTHON) + " " + AGREID_SOURCE_DIR +
                                   "/bench/eval_reference.py --query " + q + " --gallery " + g,
                               dir + "/numpy");
  double worst = 0;
  for (const auto& [key, value] : v) {
    if (key.rfind("all.", 0) != 0) continue;
    worst = std::max(worst, std::abs(value - ref.values.at(key)));
  }
  std::printf(
      "| %s | %lld x %lld x %lld | NumPy reference | %.3f s | %.0f MB |"
      " max metric difference %.3g |\n",
      preset.c_str(), (long long)p.queries, (long long)p.gallery, (long long)p.dim,
      ref.values.at("time_s"), ref.max_rss_mb, worst);
  std::printf("RESULT eval-%s-vs-numpy %.6f %.6f\n", preset.c_str(), v.at("time_s"),
              ref.values.at("time_s"));
  return worst <= 1e-12 ? 0 : 1;
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
  auto number = [&](const std::string& key, int64_t fallback) {
    return opt.count(key) ? std::stoll(opt[key]) : fallback;
  };
  RunOptions o;
  o.block = number("block", o.block);
  o.threads = number("threads", o.threads);
  o.rounds = std::max<int64_t>(1, number("rounds", o.rounds));
  o.gemm = opt.count("no-gemm") == 0;
  o.tiling.query_rows = number("tile-rows", o.tiling.query_rows);
  o.tiling.gallery_cols = number("tile-cols", o.tiling.gallery_cols);
  try {
    if (mode == "generate") {
      generate(opt["preset"], opt["dir"]);
    } else if (mode == "run") {
      run(opt["query"], opt["gallery"], o);
    } else if (mode == "all") {
      return all(std::filesystem::canonical("/proc/self/exe").string(),
                 opt.count("preset") ? opt["preset"] : "market", opt["dir"], o,
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
