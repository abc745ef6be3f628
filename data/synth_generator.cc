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
#include "data/synth_plan.h"
#include "data/synth_render.h"
#include "data/synth_world.h"

namespace agreid::data {
namespace {

// Stream tags: each kind of random draw has its own stream, so changing one never shifts another
// (4 and 6 are the plans' streams, data/synth_plan.h).
constexpr uint64_t kReidPeopleStream = 1;
constexpr uint64_t kPretrainPeopleStream = 2;
constexpr uint64_t kCameraStream = 3;
constexpr uint64_t kReidImageStream = 5;
constexpr uint64_t kPretrainImageStream = 7;
// Region occluders draw from streams of their own, so that without them (the default) every
// image comes out as it always did.
constexpr uint64_t kReidRegionStream = 8;
constexpr uint64_t kPretrainRegionStream = 9;

struct People {
  std::vector<Person> people;
  int64_t lookalikes = 0;  // people that copied an earlier person's attributes
};

// People of one file. `group[i]` names the group (train / test / pretrain) in which look-alikes
// (same attributes, other details) are drawn, with probability `lookalike` each (the first of a
// group has no one to copy).
People makePeople(uint64_t seed, uint64_t stream, const std::vector<int>& group, double lookalike) {
  People out;
  std::vector<Person>& people = out.people;
  people.reserve(group.size());
  for (size_t i = 0; i < group.size(); ++i) {
    CounterRng rng(seed, stream, i);
    Person p = samplePerson(rng);
    std::vector<size_t> earlier;
    if (rng.bernoulli(lookalike)) {
      for (size_t j = 0; j < i; ++j)
        if (group[j] == group[i]) earlier.push_back(j);
    }
    if (!earlier.empty()) {
      p.attributes = people[earlier[rng.below(earlier.size())]].attributes;
      p.details = sampleDetails(p.attributes, rng);
      ++out.lookalikes;
    }
    people.push_back(p);
  }
  return out;
}

std::vector<CameraStyle> makeCameras(const SynthOptions& o) {
  std::vector<CameraStyle> cams;
  for (int64_t c = 0; c < o.cameras; ++c) {
    CounterRng rng(o.seed, kCameraStream, static_cast<uint64_t>(c));
    cams.push_back(sampleCamera(rng));
  }
  return cams;
}

struct RenderedJob {
  SampleRecord record;
  RgbImage image;
};

// Decides whether image `job_index` gets a region occluder, and where, from its own stream.
void setRegionOccluder(const SynthOptions& o, uint64_t image_stream, size_t job_index,
                       const Person& person, RenderSpec* spec) {
  if (o.region_occluders <= 0) return;  // no draws at all
  const uint64_t region_stream =
      image_stream == kReidImageStream ? kReidRegionStream : kPretrainRegionStream;
  spec->region_rng = CounterRng(o.seed, region_stream, job_index);
  if (spec->region_rng.bernoulli(o.region_occluders))
    spec->region_occluder = sampleOccludedRegion(person, spec->region_rng);
}

RenderedJob renderJob(const SynthJob& job, size_t job_index, const std::vector<Person>& people,
                      const std::vector<CameraStyle>& cameras, const SynthOptions& o,
                      uint64_t image_stream) {
  CounterRng rng(o.seed, image_stream, job_index);
  const Person& person = people[job.person];
  RenderSpec spec;
  spec.height = o.height;
  spec.width = o.width;
  spec.occluded = job.occluded;
  setRegionOccluder(o, image_stream, job_index, person, &spec);
  RenderedImage rendered = renderPedestrian(person, cameras[job.camid], spec, rng);
  RenderedJob out;
  SampleRecord& r = out.record;
  r.jpeg = encodeJpeg(rendered.image, static_cast<int>(o.jpeg_quality));
  r.pid = job.pid;
  r.camid = job.camid;
  r.split = job.split;
  r.label = job.label;
  // A region occluder makes an image occluded too.
  r.occluded = job.occluded || rendered.region_occluder != BodyRegion::kNone;
  r.path = job.path;
  r.attributes.assign(person.attributes.begin(), person.attributes.end());
  r.visibility.assign(rendered.visibility.begin(), rendered.visibility.end());
  // No draw at all without short captions, so that existing worlds stay byte-identical.
  const bool short_caption = o.short_captions > 0 && rng.bernoulli(o.short_captions);
  r.caption = short_caption
                  ? shortCaption(person, rng, static_cast<int>(o.short_caption_attributes))
                  : caption(person, rendered.occluder, rng);
  out.image = std::move(rendered.image);
  return out;
}

// Renders all jobs on `threads` threads; results in job order.
std::vector<SampleRecord> renderAll(const std::vector<SynthJob>& jobs,
                                    const std::vector<Person>& people, const SynthOptions& o,
                                    uint64_t image_stream, const SynthGenerateOptions& generate) {
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

People reidPeople(const SynthOptions& o) {
  std::vector<int> group(o.identities);
  for (int64_t i = 0; i < o.identities; ++i) group[i] = i < o.identities / 2 ? 0 : 1;
  return makePeople(o.seed, kReidPeopleStream, group, o.lookalike_fraction);
}

People pretrainPeople(const SynthOptions& o) {
  return makePeople(o.seed, kPretrainPeopleStream, std::vector<int>(o.pretrain_identities, 2),
                    o.lookalike_fraction);
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
  validateSynthOptions(o);
  return renderAll(planReid(o), reidPeople(o).people, o, kReidImageStream, generate);
}

std::vector<SampleRecord> renderPretrainSamples(const SynthOptions& o,
                                                const SynthGenerateOptions& generate) {
  validateSynthOptions(o);
  return renderAll(planPretrain(o), pretrainPeople(o).people, o, kPretrainImageStream, generate);
}

int64_t synthImageCount(const SynthOptions& o) {
  validateSynthOptions(o);
  return static_cast<int64_t>(planReid(o).size() + planPretrain(o).size());
}

SynthSummary generateSynthWorld(const SynthOptions& o, const std::string& out_dir,
                                const SynthGenerateOptions& generate) {
  validateSynthOptions(o);
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
  s.lookalike_identities = reidPeople(o).lookalikes;
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
  validateSynthOptions(o);
  AGREID_CHECK(columns >= 1 && upscale >= 1);
  const auto jobs = planReid(o);
  const auto people = reidPeople(o).people;
  const auto cameras = makeCameras(o);
  // Per test identity: its first holistic gallery image and its first occluded query.
  std::vector<size_t> top, bottom;
  for (int64_t idx = o.identities / 2;
       idx < o.identities && static_cast<int64_t>(top.size()) < columns; ++idx) {
    std::optional<size_t> holistic, occluded;
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (jobs[i].person != idx) continue;
      RenderSpec panel;  // holistic means no region occluder either
      setRegionOccluder(o, kReidImageStream, i, people[jobs[i].person], &panel);
      const bool has_panel = panel.region_occluder != BodyRegion::kNone;
      if (!holistic && jobs[i].split == Split::kGallery && !jobs[i].occluded && !has_panel)
        holistic = i;
      if (!occluded && jobs[i].split == Split::kQuery && (jobs[i].occluded || has_panel))
        occluded = i;
    }
    if (holistic && occluded) {
      top.push_back(*holistic);
      bottom.push_back(*occluded);
    }
  }
  if (top.empty()) {
    throw InputError(
        "agreid synth --preview: no test identity has both a holistic gallery image "
        "and an occluded query (check synth.occluded_* fractions and synth.region_occluders)");
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
