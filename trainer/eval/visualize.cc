#include "trainer/eval/visualize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "data/dataset.h"
#include "data/importers.h"
#include "data/jpeg_codec.h"
#include "trainer/eval/results.h"

namespace agreid::trainer {
namespace {

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kGreen{0, 170, 0};
constexpr Rgb kRed{220, 0, 0};
constexpr Rgb kQueryBorder{40, 40, 40};
constexpr Rgb kBackground{255, 255, 255};

// Bilinear resize of `src` into a w x h block of `dst` at (x0, y0).
void blit(const data::RgbImage& src, data::RgbImage& dst, int x0, int y0, int w, int h) {
  for (int y = 0; y < h; ++y) {
    const double sy = std::clamp((y + 0.5) * src.height / h - 0.5, 0.0, src.height - 1.0);
    const int y1 = static_cast<int>(sy), y2 = std::min(y1 + 1, src.height - 1);
    const double fy = sy - y1;
    for (int x = 0; x < w; ++x) {
      const double sx = std::clamp((x + 0.5) * src.width / w - 0.5, 0.0, src.width - 1.0);
      const int x1 = static_cast<int>(sx), x2 = std::min(x1 + 1, src.width - 1);
      const double fx = sx - x1;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return src.pixels[(yy * src.width + xx) * 3 + c]; };
        const double v = (1 - fy) * ((1 - fx) * at(y1, x1) + fx * at(y1, x2)) +
                         fy * ((1 - fx) * at(y2, x1) + fx * at(y2, x2));
        dst.pixels[((y0 + y) * dst.width + x0 + x) * 3 + c] =
            static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  }
}

void fill(data::RgbImage& img, int x0, int y0, int w, int h, Rgb color) {
  for (int y = y0; y < y0 + h; ++y) {
    for (int x = x0; x < x0 + w; ++x) {
      uint8_t* p = &img.pixels[(y * img.width + x) * 3];
      p[0] = color.r;
      p[1] = color.g;
      p[2] = color.b;
    }
  }
}

data::RgbImage sampleImage(const data::DatasetReader& reader, int64_t index) {
  if (index < 0 || index >= reader.size()) {
    throw InputError(reader.path() + ": sample " + std::to_string(index) +
                     " named by the features file is outside the dataset (" +
                     std::to_string(reader.size()) + " samples)");
  }
  const std::vector<uint8_t> jpeg = reader.readJpeg(index);
  return data::decodeJpeg(jpeg.data(), jpeg.size(),
                          reader.path() + " sample " + std::to_string(index) + " (" +
                              reader.samples().path[index] + ")");
}

std::string fixed(double v, int decimals) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string xmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// At most `max_chars` characters of `text`, keeping its end (a path's last folders say most).
std::string tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - (max_chars - 3));
}

}  // namespace

std::string cmcSvg(const EvalResults& results, const std::string& title) {
  const double width = 640, height = 420, left = 70, right = 20, top = 40, bottom = 60;
  const double pw = width - left - right, ph = height - top - bottom;
  const auto max_rank = static_cast<int64_t>(results.all.cmc.size());
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
     << "CMC curve" << (results.reranked ? " (re-ranked)" : "")
     << (title.empty() ? "" : ": " + xmlEscape(tail(title, 64))) << "</text>\n";
  auto xOf = [&](double rank) {
    return left + (max_rank > 1 ? (rank - 1) / (max_rank - 1) : 0.5) * pw;
  };
  auto yOf = [&](double rate) { return top + (1 - rate) * ph; };
  // Grid and y ticks (0 % .. 100 %).
  for (int t = 0; t <= 10; ++t) {
    const double y = yOf(t / 10.0);
    os << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
       << "\" stroke=\"#ddd\"/>\n"
       << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << t * 10
       << "</text>\n";
  }
  // X ticks: rank 1 and multiples of a step.
  const int64_t step = max_rank <= 10 ? 1 : max_rank <= 50 ? 5 : max_rank <= 200 ? 20 : 100;
  for (int64_t r = 1; r <= max_rank; r = (r == 1 && step > 1) ? step : r + step) {
    const double x = xOf(static_cast<double>(r));
    os << "<line x1=\"" << x << "\" y1=\"" << top + ph << "\" x2=\"" << x << "\" y2=\""
       << top + ph + 5 << "\" stroke=\"black\"/>\n"
       << "<text x=\"" << x << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">" << r
       << "</text>\n";
  }
  os << "<line x1=\"" << left << "\" y1=\"" << top + ph << "\" x2=\"" << left + pw << "\" y2=\""
     << top + ph << "\" stroke=\"black\"/>\n"
     << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << top + ph
     << "\" stroke=\"black\"/>\n"
     << "<text x=\"" << left + pw / 2 << "\" y=\"" << height - 18
     << "\" text-anchor=\"middle\">rank</text>\n"
     << "<text x=\"18\" y=\"" << top + ph / 2
     << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << top + ph / 2
     << ")\">matching rate (%)</text>\n";
  struct Curve {
    std::string name;
    const RankingMetrics* metrics;
    const char* color;
  };
  std::vector<Curve> curves = {{"all", &results.all, "#1f77b4"}};
  if (results.holistic) curves.push_back({"holistic", &*results.holistic, "#2ca02c"});
  if (results.occluded) curves.push_back({"occluded", &*results.occluded, "#d62728"});
  // The legend: a framed box in the plot's lower right, as wide as its longest line (about 7 px
  // per character at font size 12), so it never runs past the image.
  std::vector<std::string> labels;
  size_t longest = 0;
  for (const Curve& c : curves) {
    labels.push_back(c.name + ": R1 " + fixed(100 * c.metrics->rank(1), 1) + ", mAP " +
                     fixed(100 * c.metrics->map, 1));
    longest = std::max(longest, labels.back().size());
  }
  const double box_w = 36 + 7.0 * static_cast<double>(longest), line_h = 18;
  const double box_h = 8 + line_h * static_cast<double>(curves.size());
  const double bx = left + pw - box_w - 8, by = top + ph - box_h - 8;
  os << "<rect x=\"" << fixed(bx, 1) << "\" y=\"" << fixed(by, 1) << "\" width=\""
     << fixed(box_w, 1) << "\" height=\"" << fixed(box_h, 1)
     << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n";
  for (size_t c = 0; c < curves.size(); ++c) {
    const RankingMetrics& m = *curves[c].metrics;
    if (m.num_valid_query > 0) {
      os << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << curves[c].color
         << "\" points=\"";
      for (int64_t k = 0; k < max_rank; ++k) {
        os << (k ? " " : "") << fixed(xOf(k + 1.0), 2) << "," << fixed(yOf(m.cmc[k]), 2);
      }
      os << "\"/>\n";
    }
    const double ly = by + 4 + line_h * (static_cast<double>(c) + 1) - 5;
    os << "<line x1=\"" << fixed(bx + 6, 1) << "\" y1=\"" << fixed(ly - 4, 1) << "\" x2=\""
       << fixed(bx + 26, 1) << "\" y2=\"" << fixed(ly - 4, 1) << "\" stroke-width=\"2\" stroke=\""
       << curves[c].color << "\"/>\n"
       << "<text x=\"" << fixed(bx + 31, 1) << "\" y=\"" << fixed(ly, 1) << "\">"
       << (m.num_valid_query > 0 ? labels[c] : curves[c].name + ": no valid query") << "</text>\n";
  }
  os << "</svg>\n";
  return os.str();
}

void writeRankedListImages(const std::string& dir, const std::vector<RankedList>& lists,
                           const FeatureSet& query, const FeatureSet& gallery,
                           const data::DatasetReader& query_images,
                           const data::DatasetReader& gallery_images,
                           const RankedListImageOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError(dir + ": cannot create the ranked-list folder: " + ec.message());
  const int cw = o.cell_width + 2 * o.border, ch = o.cell_height + 2 * o.border, gap = 6;
  std::ostringstream index;
  index << "# Ranked lists\n\nGreen border: same pid as the query; red: different pid. "
           "Junk (same pid and camera) is removed.\n\n"
           "| image | query pid/cam (sample) | AP | top gallery: pid/cam distance |\n"
           "|---|---|---:|---|\n";
  const std::string& query_layout = query_images.info().name;
  const std::string& gallery_layout = gallery_images.info().name;
  for (const RankedList& list : lists) {
    const auto n = static_cast<int>(list.gallery.size());
    data::RgbImage canvas;
    canvas.width = cw * (n + 1) + gap * (n + 1) + 3 * gap;
    canvas.height = ch + 2 * gap;
    canvas.pixels.assign(static_cast<size_t>(canvas.width) * canvas.height * 3, 255);
    fill(canvas, 0, 0, canvas.width, canvas.height, kBackground);
    auto cell = [&](int x0, const data::RgbImage& img, Rgb color) {
      fill(canvas, x0, gap, cw, ch, color);
      blit(img, canvas, x0 + o.border, gap + o.border, o.cell_width, o.cell_height);
    };
    const int64_t q = list.query;
    cell(gap, sampleImage(query_images, query.index[q]), kQueryBorder);
    const std::string name = "query_" + std::to_string(q) + ".jpg";
    index << "| " << name << " | " << query.pid[q] << "/"
          << data::cameraName(query_layout, query.camid[q]) << " (" << query.index[q] << ") | "
          << (std::isnan(list.ap) ? "-" : fixed(list.ap, 4)) << " |";
    for (int i = 0; i < n; ++i) {
      const int64_t g = list.gallery[i];
      const bool same = gallery.pid[g] == query.pid[q];
      cell(gap + cw + 3 * gap + i * (cw + gap), sampleImage(gallery_images, gallery.index[g]),
           same ? kGreen : kRed);
      index << " " << gallery.pid[g] << "/" << data::cameraName(gallery_layout, gallery.camid[g])
            << " " << fixed(list.distance[i], 4) << (same ? " (match)" : "") << ";";
    }
    index << " |\n";
    const std::vector<uint8_t> jpeg = data::encodeJpeg(canvas, o.quality);
    writeFileAtomically((std::filesystem::path(dir) / name).string(),
                        std::string(jpeg.begin(), jpeg.end()));
  }
  writeFileAtomically((std::filesystem::path(dir) / "index.md").string(), index.str());
}

std::vector<int64_t> spreadRows(int64_t rows, int64_t count) {
  std::vector<int64_t> out;
  count = std::min(count, rows);
  for (int64_t i = 0; i < count; ++i) out.push_back(i * rows / count);
  return out;
}

EvaluateRequest rankedListRequest(const FeatureSet& query, const EvalOptions& options) {
  EvaluateRequest request;
  const std::string& mode = options.ranked_queries;
  const int64_t count = std::min(options.ranked_lists, query.size());
  if (mode == "spread") {
    request.record = spreadRows(query.size(), count);
  } else if (mode == "first") {
    for (int64_t q = 0; q < count; ++q) request.record.push_back(q);
  } else if (mode == "worst") {
    request.record_worst = count;
  } else if (mode == "rows") {
    for (int64_t row : options.ranked_ids) {
      if (row < 0 || row >= query.size()) {
        throw InputError("eval.ranked_ids: query row " + std::to_string(row) +
                         " is outside the query set (rows 0.." + std::to_string(query.size() - 1) +
                         ")");
      }
      request.record.push_back(row);
    }
  } else if (mode == "pids") {
    for (int64_t pid : options.ranked_ids) {
      const auto before = request.record.size();
      for (int64_t q = 0; q < query.size(); ++q) {
        if (query.pid[q] == pid) request.record.push_back(q);
      }
      if (request.record.size() == before) {
        throw InputError("eval.ranked_ids: no query has person id " + std::to_string(pid));
      }
    }
  } else {
    throw InputError("eval.ranked_queries = \"" + mode +
                     "\" is not one of: spread, first, worst, rows, pids");
  }
  std::sort(request.record.begin(), request.record.end());
  request.record.erase(std::unique(request.record.begin(), request.record.end()),
                       request.record.end());
  return request;
}

}  // namespace agreid::trainer
