#include "data/synth_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "base/check.h"
#include "base/error.h"
#include "data/counter_rng.h"
#include "data/synth_render.h"
#include "data/synth_world.h"

namespace agreid::data {
namespace {

// Stream tags: each kind of random draw has its own stream, so changing one never shifts another.
constexpr uint64_t kReidPeopleStream = 1;
constexpr uint64_t kPretrainPeopleStream = 2;
constexpr uint64_t kCameraStream = 3;
constexpr uint64_t kReidPlanStream = 4;
constexpr uint64_t kReidImageStream = 5;
constexpr uint64_t kPretrainPlanStream = 6;
constexpr uint64_t kPretrainImageStream = 7;
constexpr double kLookAlikeProb = 0.2;  // identity copies an earlier identity's attributes

struct Job {
  int64_t person = 0;  // index into the people vector
  int32_t pid = 0;
  int16_t camid = 0;
  Split split = Split::kTrain;
  int32_t label = -1;
  bool occluded = false;
  std::string path;
};

// People of one file. `group[i]` names the group (train / test / pretrain) in which look-alikes
// (same attributes, other details) are drawn.
std::vector<Person> makePeople(uint64_t seed, uint64_t stream, const std::vector<int>& group) {
  std::vector<Person> people;
  people.reserve(group.size());
  for (size_t i = 0; i < group.size(); ++i) {
    CounterRng rng(seed, stream, i);
    Person p = samplePerson(rng);
    std::vector<size_t> earlier;
    if (rng.bernoulli(kLookAlikeProb)) {
      for (size_t j = 0; j < i; ++j)
        if (group[j] == group[i]) earlier.push_back(j);
    }
    if (!earlier.empty()) {
      p.attributes = people[earlier[rng.below(earlier.size())]].attributes;
      p.details = sampleDetails(p.attributes, rng);
    }
    people.push_back(p);
  }
  return people;
}

std::vector<CameraStyle> makeCameras(const SynthOptions& o) {
  std::vector<CameraStyle> cams;
  for (int64_t c = 0; c < o.cameras; ++c) {
    CounterRng rng(o.seed, kCameraStream, static_cast<uint64_t>(c));
    cams.push_back(sampleCamera(rng));
  }
  return cams;
}

std::string marketName(const char* folder, int32_t pid, int16_t camid, int64_t serial) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s/%04d_c%ds1_%06lld_00.jpg", folder, pid, camid + 1,
                static_cast<long long>(serial));
  return buf;
}

void validate(const SynthOptions& o) {
  if (o.identities / 2 < 1) {
    throw InputError(
        detail::concat("synth.identities: expected at least 2 (half train, half "
                       "test), got ",
                       o.identities));
  }
  if (o.images_per_identity < 2) {
    throw InputError(
        detail::concat("synth.images_per_identity: expected at least 2 (a query and "
                       "a gallery image per test identity), got ",
                       o.images_per_identity));
  }
  if (o.cameras < 2) {
    throw InputError(detail::concat("synth.cameras: expected at least 2, got ", o.cameras));
  }
  if (o.height < 16 || o.width < 8) {
    throw InputError(detail::concat("synth.height x synth.width: expected at least 16 x 8, got ",
                                    o.height, " x ", o.width));
  }
}

std::vector<Job> planReid(const SynthOptions& o) {
  const int64_t n_train = o.identities / 2;
  const int64_t cams = o.cameras;
  std::vector<Job> jobs;
  int64_t serial = 0;
  for (int64_t idx = 0; idx < o.identities; ++idx) {
    CounterRng rng(o.seed, kReidPlanStream, static_cast<uint64_t>(idx));
    const int32_t pid = static_cast<int32_t>(idx + 1);
    const int64_t n = o.images_per_identity;
    std::vector<int16_t> cam(n);
    for (auto& c : cam) c = static_cast<int16_t>(rng.below(cams));
    auto otherCamera = [&](int16_t c) {
      return static_cast<int16_t>((c + 1 + rng.below(cams - 1)) % cams);
    };
    if (idx < n_train) {
      if (std::all_of(cam.begin(), cam.end(), [&](int16_t c) { return c == cam[0]; }))
        cam[n - 1] = otherCamera(cam[0]);
      for (int64_t j = 0; j < n; ++j) {
        Job job{idx,
                pid,
                cam[j],
                Split::kTrain,
                static_cast<int32_t>(idx),
                rng.bernoulli(o.occluded_train_fraction),
                ""};
        job.path = marketName("bounding_box_train", pid, cam[j], ++serial);
        jobs.push_back(job);
      }
      continue;
    }
    // Test identity: the first q images are queries, the rest gallery. Every query must have a
    // gallery image in another camera: a gallery spanning two cameras guarantees it; a single
    // gallery image forces the queries elsewhere.
    const int64_t q = std::clamp<int64_t>(std::llround(n * o.query_fraction), 1, n - 1);
    const int64_t g = n - q;
    if (g >= 2) {
      if (std::all_of(cam.begin() + q, cam.end(), [&](int16_t c) { return c == cam[q]; }))
        cam[n - 1] = otherCamera(cam[q]);
    } else {
      for (int64_t j = 0; j < q; ++j)
        if (cam[j] == cam[q]) cam[j] = otherCamera(cam[q]);
    }
    for (int64_t j = 0; j < n; ++j) {
      const bool query = j < q;
      Job job{
          idx,    pid,
          cam[j], query ? Split::kQuery : Split::kGallery,
          -1,     rng.bernoulli(query ? o.occluded_query_fraction : o.occluded_gallery_fraction),
          ""};
      job.path = marketName(query ? "query" : "bounding_box_test", pid, cam[j], ++serial);
      jobs.push_back(job);
    }
  }
  return jobs;
}

std::vector<Job> planPretrain(const SynthOptions& o) {
  std::vector<Job> jobs;
  const int64_t ids = o.pretrain_identities;
  for (int64_t i = 0; i < o.pretrain_images; ++i) {
    CounterRng rng(o.seed, kPretrainPlanStream, static_cast<uint64_t>(i));
    const int64_t person = i % ids;
    Job job;
    job.person = person;
    job.pid = static_cast<int32_t>(o.identities + 1 + person);
    job.camid = static_cast<int16_t>(rng.below(o.cameras));
    job.split = Split::kTrain;
    job.label = static_cast<int32_t>(person);
    job.occluded = rng.bernoulli(o.occluded_train_fraction);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "pretrain/%07d_c%d_%08lld.jpg", job.pid, job.camid + 1,
                  static_cast<long long>(i));
    job.path = buf;
    jobs.push_back(job);
  }
  return jobs;
}

struct RenderedJob {
  SampleRecord record;
  RgbImage image;
};

RenderedJob renderJob(const Job& job, size_t job_index, const std::vector<Person>& people,
                      const std::vector<CameraStyle>& cameras, const SynthOptions& o,
                      uint64_t image_stream) {
  CounterRng rng(o.seed, image_stream, job_index);
  const Person& person = people[job.person];
  RenderSpec spec;
  spec.height = o.height;
  spec.width = o.width;
  spec.occluded = job.occluded;
  RenderedImage rendered = renderPedestrian(person, cameras[job.camid], spec, rng);
  RenderedJob out;
  SampleRecord& r = out.record;
  r.jpeg = encodeJpeg(rendered.image, static_cast<int>(o.jpeg_quality));
  r.pid = job.pid;
  r.camid = job.camid;
  r.split = job.split;
  r.label = job.label;
  r.occluded = job.occluded;
  r.path = job.path;
  r.attributes.assign(person.attributes.begin(), person.attributes.end());
  r.caption = caption(person, rendered.occluder, rng);
  out.image = std::move(rendered.image);
  return out;
}

// Renders all jobs on `threads` threads; results in job order.
std::vector<SampleRecord> renderAll(const std::vector<Job>& jobs, const std::vector<Person>& people,
                                    const SynthOptions& o, uint64_t image_stream,
                                    const SynthGenerateOptions& generate) {
  const auto cameras = makeCameras(o);
  std::vector<SampleRecord> out(jobs.size());
  int64_t threads = generate.threads > 0
                        ? generate.threads
                        : static_cast<int64_t>(std::thread::hardware_concurrency());
  threads = std::clamp<int64_t>(threads, 1, 64);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex, rendered_mutex;
  auto work = [&] {
    try {
      for (size_t i = next++; i < jobs.size(); i = next++) {
        if (generate.check_stop) generate.check_stop();
        out[i] = renderJob(jobs[i], i, people, cameras, o, image_stream).record;
        if (generate.rendered) {
          std::lock_guard<std::mutex> lock(rendered_mutex);
          generate.rendered();
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = jobs.size();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::vector<Person> reidPeople(const SynthOptions& o) {
  std::vector<int> group(o.identities);
  for (int64_t i = 0; i < o.identities; ++i) group[i] = i < o.identities / 2 ? 0 : 1;
  return makePeople(o.seed, kReidPeopleStream, group);
}

std::vector<Person> pretrainPeople(const SynthOptions& o) {
  return makePeople(o.seed, kPretrainPeopleStream, std::vector<int>(o.pretrain_identities, 2));
}

DatasetInfo writeFile(const std::string& path, const std::string& name, const SynthOptions& o,
                      const std::vector<SampleRecord>& records,
                      const SynthGenerateOptions& generate) {
  DatasetWriter writer(path, synthWriterOptions(name, o));
  for (const auto& r : records) {
    if (generate.check_stop) generate.check_stop();
    writer.add(r);
  }
  return writer.finish();
}

}  // namespace

WriterOptions synthWriterOptions(const std::string& name, const SynthOptions& o) {
  WriterOptions w;
  w.name = name;
  w.source = detail::concat("agreid synth seed=", o.seed, " identities=", o.identities,
                            " images_per_identity=", o.images_per_identity, " cameras=", o.cameras,
                            " size=", o.height, "x", o.width);
  w.attribute_names = synthAttributeNames();
  w.attribute_values = synthAttributeValues();
  return w;
}

std::vector<SampleRecord> renderReidSamples(const SynthOptions& o,
                                            const SynthGenerateOptions& generate) {
  validate(o);
  return renderAll(planReid(o), reidPeople(o), o, kReidImageStream, generate);
}

std::vector<SampleRecord> renderPretrainSamples(const SynthOptions& o,
                                                const SynthGenerateOptions& generate) {
  validate(o);
  return renderAll(planPretrain(o), pretrainPeople(o), o, kPretrainImageStream, generate);
}

int64_t synthImageCount(const SynthOptions& o) {
  validate(o);
  return static_cast<int64_t>(planReid(o).size() + planPretrain(o).size());
}

SynthSummary generateSynthWorld(const SynthOptions& o, const std::string& out_dir,
                                const SynthGenerateOptions& generate) {
  validate(o);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) {
    throw InputError("agreid synth --out " + out_dir + ": cannot create the output folder" +
                     (ec ? " (" + ec.message() + ")" : std::string(" (a file is in the way)")));
  }
  SynthSummary s;
  s.reid_path = (fs::path(out_dir) / "reid.h5").string();
  s.pretrain_path = (fs::path(out_dir) / "pretrain.h5").string();

  const auto reid = renderReidSamples(o, generate);
  for (const auto& r : reid) {
    if (r.split == Split::kTrain) {
      ++s.train_images;
      s.occluded_train += r.occluded;
    } else if (r.split == Split::kQuery) {
      ++s.query_images;
      s.occluded_queries += r.occluded;
    } else {
      ++s.gallery_images;
      s.occluded_gallery += r.occluded;
    }
  }
  s.train_identities = o.identities / 2;
  s.test_identities = o.identities - o.identities / 2;
  writeFile(s.reid_path, "synthetic-reid", o, reid, generate);

  try {
    const auto pretrain = renderPretrainSamples(o, generate);
    s.pretrain_images = static_cast<int64_t>(pretrain.size());
    s.pretrain_identities = std::min(o.pretrain_identities, o.pretrain_images);
    writeFile(s.pretrain_path, "synthetic-pretrain", o, pretrain, generate);
  } catch (...) {
    fs::remove(s.reid_path, ec);  // half a world is no world
    throw;
  }
  return s;
}

SynthPreview renderSynthPreview(const SynthOptions& o, int64_t columns, int64_t upscale) {
  validate(o);
  AGREID_CHECK(columns >= 1 && upscale >= 1);
  const auto jobs = planReid(o);
  const auto people = reidPeople(o);
  const auto cameras = makeCameras(o);
  // Per test identity: its first holistic gallery image and its first occluded query.
  std::vector<size_t> top, bottom;
  for (int64_t idx = o.identities / 2;
       idx < o.identities && static_cast<int64_t>(top.size()) < columns; ++idx) {
    std::optional<size_t> holistic, occluded;
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (jobs[i].person != idx) continue;
      if (!holistic && jobs[i].split == Split::kGallery && !jobs[i].occluded) holistic = i;
      if (!occluded && jobs[i].split == Split::kQuery && jobs[i].occluded) occluded = i;
    }
    if (holistic && occluded) {
      top.push_back(*holistic);
      bottom.push_back(*occluded);
    }
  }
  if (top.empty()) {
    throw InputError(
        "agreid synth --preview: no test identity has both a holistic gallery image "
        "and an occluded query (check synth.occluded_* fractions)");
  }
  const int64_t gap = 2;
  const int64_t cell_h = o.height * upscale, cell_w = o.width * upscale;
  const int64_t cols = static_cast<int64_t>(top.size());
  SynthPreview preview;
  RgbImage& grid = preview.grid;
  grid.height = static_cast<int>(2 * cell_h + 3 * gap);
  grid.width = static_cast<int>(cols * cell_w + (cols + 1) * gap);
  grid.pixels.assign(static_cast<size_t>(grid.height) * grid.width * 3, 255);
  for (int row = 0; row < 2; ++row) {
    const auto& picks = row == 0 ? top : bottom;
    for (int64_t col = 0; col < cols; ++col) {
      const RenderedJob r =
          renderJob(jobs[picks[col]], picks[col], people, cameras, o, kReidImageStream);
      preview.captions.push_back(r.record.caption);
      // Decode the stored JPEG so the preview shows exactly what reid.h5 holds.
      const RgbImage img = decodeJpeg(r.record.jpeg.data(), r.record.jpeg.size(), r.record.path);
      const int64_t y0 = gap + row * (cell_h + gap), x0 = gap + col * (cell_w + gap);
      for (int64_t y = 0; y < cell_h; ++y)
        for (int64_t x = 0; x < cell_w; ++x)
          for (int c = 0; c < 3; ++c)
            grid.pixels[((y0 + y) * grid.width + x0 + x) * 3 + c] =
                img.pixels[((y / upscale) * img.width + x / upscale) * 3 + c];
    }
  }
  return preview;
}

}  // namespace agreid::data
