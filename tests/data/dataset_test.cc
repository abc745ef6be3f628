// DatasetWriter / DatasetReader: round trip, checksum, atomic output and every way a dataset file
// can be bad (each one InputError with a one-line message naming the file and the field).
#include "data/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/error.h"
#include "data/jpeg_codec.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

using testing::TempDir;

std::vector<SampleRecord> makeRecords(int n, bool with_attributes, bool with_captions) {
  std::vector<SampleRecord> records;
  for (int i = 0; i < n; ++i) {
    SampleRecord r;
    r.jpeg = testing::tinyJpeg(8 + i % 3, 6 + i % 2, static_cast<uint8_t>(17 * i));
    r.pid = 100 + i / 2;
    r.camid = static_cast<int16_t>(i % 3);
    r.split = static_cast<Split>(i % 3);
    r.label = r.split == Split::kTrain ? i / 2 : -1;
    r.occluded = i % 4 == 0;
    r.path = "dir/img_" + std::to_string(i) + ".jpg";
    if (with_attributes) r.attributes = {i % 2, i % 5};
    if (with_captions) r.caption = i % 3 == 1 ? "" : "a person in a red coat " + std::to_string(i);
    records.push_back(std::move(r));
  }
  return records;
}

WriterOptions attributeOptions() {
  WriterOptions o;
  o.name = "unit";
  o.source = "makeRecords";
  o.attribute_names = {"bag", "colour"};
  o.attribute_values = {{"no", "yes"}, {"red", "green", "blue", "black", "white"}};
  o.chunk_bytes = 64;  // many chunks, so reads cross chunk boundaries
  return o;
}

std::string writeRecords(const std::string& path, const std::vector<SampleRecord>& records,
                         WriterOptions options) {
  DatasetWriter writer(path, std::move(options));
  for (const auto& r : records) writer.add(r);
  EXPECT_EQ(writer.count(), static_cast<int64_t>(records.size()));
  return writer.finish().checksum;
}

TEST(DatasetTest, RoundTripKeepsEverySampleAndField) {
  TempDir dir;
  const auto records = makeRecords(11, true, true);
  const std::string path = dir.file("set.h5");
  const std::string checksum = writeRecords(path, records, attributeOptions());
  EXPECT_TRUE(testing::tempLeftovers(dir.path().string()).empty());

  DatasetReader reader(path);
  ASSERT_EQ(reader.size(), 11);
  EXPECT_EQ(reader.info().format_version, kFormatVersion);
  EXPECT_EQ(reader.info().name, "unit");
  EXPECT_EQ(reader.info().source, "makeRecords");
  EXPECT_EQ(reader.info().checksum, checksum);
  EXPECT_EQ(reader.info().attribute_names, attributeOptions().attribute_names);
  EXPECT_EQ(reader.info().attribute_values, attributeOptions().attribute_values);
  EXPECT_TRUE(reader.info().has_captions);
  const SampleTable& t = reader.samples();
  const auto& attrs = reader.attributes();
  ASSERT_EQ(attrs.size(), 22u);
  for (int i = 0; i < 11; ++i) {
    const SampleRecord& r = records[i];
    EXPECT_EQ(reader.readJpeg(i), r.jpeg) << i;
    EXPECT_EQ(t.pid[i], r.pid);
    EXPECT_EQ(t.camid[i], r.camid);
    EXPECT_EQ(t.split[i], static_cast<uint8_t>(r.split));
    EXPECT_EQ(t.label[i], r.label);
    EXPECT_EQ(t.occluded[i] != 0, r.occluded);
    EXPECT_EQ(t.path[i], r.path);
    EXPECT_EQ(attrs[2 * i], r.attributes[0]);
    EXPECT_EQ(attrs[2 * i + 1], r.attributes[1]);
    EXPECT_EQ(reader.caption(i), r.caption);
    const RgbImage img =
        decodeJpeg(reader.readJpeg(i).data(), reader.readJpeg(i).size(), reader.sampleContext(i));
    EXPECT_EQ(img.height, 8 + i % 3);
  }
  // A contiguous run is the concatenation of its images.
  std::vector<uint8_t> expected;
  for (int i = 3; i < 9; ++i)
    expected.insert(expected.end(), records[i].jpeg.begin(), records[i].jpeg.end());
  EXPECT_EQ(reader.readJpegRange(3, 9), expected);
  EXPECT_TRUE(reader.readJpegRange(4, 4).empty());
  EXPECT_EQ(reader.indicesOf(Split::kQuery), (std::vector<int64_t>{1, 4, 7, 10}));
  EXPECT_EQ(reader.recomputeChecksum(), checksum);
  EXPECT_EQ(reader.sampleContext(4), path + " sample 4 (dir/img_4.jpg)");
  EXPECT_TRUE(isDatasetFile(path));
}

TEST(DatasetTest, OptionalPartsAbsentWhenUnused) {
  TempDir dir;
  const std::string path = dir.file("plain.h5");
  writeRecords(path, makeRecords(4, false, false), WriterOptions{});
  DatasetReader reader(path);
  EXPECT_TRUE(reader.info().attribute_names.empty());
  EXPECT_FALSE(reader.info().has_captions);
  EXPECT_TRUE(reader.attributes().empty());
  EXPECT_EQ(reader.caption(2), "");
}

TEST(DatasetTest, EmptyDatasetRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("empty.h5");
  writeRecords(path, {}, WriterOptions{});
  DatasetReader reader(path);
  EXPECT_EQ(reader.size(), 0);
  EXPECT_EQ(reader.recomputeChecksum(), reader.info().checksum);
}

TEST(DatasetTest, ChecksumIsStableAndContentSensitive) {
  TempDir dir;
  const auto records = makeRecords(6, false, false);
  WriterOptions a;
  a.name = "one";
  a.chunk_bytes = 32;
  WriterOptions b;
  b.name = "two";  // name, source and chunking are not content
  b.source = "elsewhere";
  b.chunk_bytes = 1 << 20;
  const std::string sum = writeRecords(dir.file("a.h5"), records, a);
  EXPECT_EQ(writeRecords(dir.file("b.h5"), records, b), sum);
  EXPECT_EQ(sum.rfind("fnv1a64:", 0), 0u);
  EXPECT_EQ(sum.size(), 8u + 16u);

  auto changed = records;
  changed[3].jpeg.back() ^= 1;  // one image byte
  EXPECT_NE(writeRecords(dir.file("c.h5"), changed, a), sum);
  changed = records;
  changed[2].label = 99;  // one label
  EXPECT_NE(writeRecords(dir.file("d.h5"), changed, a), sum);
  changed = records;
  changed[5].path += "x";  // one path
  EXPECT_NE(writeRecords(dir.file("e.h5"), changed, a), sum);
  changed = records;
  std::swap(changed[0], changed[1]);  // order
  EXPECT_NE(writeRecords(dir.file("f.h5"), changed, a), sum);
}

// The checksum recomputed in Python (h5py) from the specification in docs/data-format.md.
TEST(DatasetTest, ChecksumMatchesIndependentPythonImplementation) {
  if (testing::runShell(testing::shellQuote(AGREID_PYTHON) + " -c 'import h5py'").exit_code != 0) {
    GTEST_SKIP() << "Debian python3 with h5py not found";
  }
  TempDir dir;
  const std::string path = dir.file("py.h5");
  const std::string checksum = writeRecords(path, makeRecords(7, true, true), attributeOptions());
  const std::string out = dir.file("py.txt");
  ASSERT_EQ(testing::runPython(R"PY(
import struct, h5py
h = 0xcbf29ce484222325
def feed(b):
    global h
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
def s(b):
    feed(struct.pack('<Q', len(b))); feed(b)
f = h5py.File(')PY" + path + R"PY(', 'r')
blob, off = f['images/blob'][()], f['images/offsets'][()]
S = f['samples']
attrs = f['attributes/values'][()] if 'attributes' in f else None
cap = f['captions/blob'][()] if 'captions' in f else None
coff = f['captions/offsets'][()] if 'captions' in f else None
n = len(off) - 1
for i in range(n):
    s(blob[off[i]:off[i + 1]].tobytes())
    feed(struct.pack('<ihBiB', int(S['pid'][i]), int(S['camid'][i]), int(S['split'][i]),
                     int(S['label'][i]), int(S['occluded'][i])))
    s(S['path'][i])
    if attrs is not None:
        for v in attrs[i]: feed(struct.pack('<i', int(v)))
    if cap is not None: s(cap[coff[i]:coff[i + 1]].tobytes())
names = [x for x in f['attributes/names'][()]] if attrs is not None else []
feed(struct.pack('<QQ', n, len(names)))
for x in names: s(x)
if attrs is not None:
    vn, vo = f['attributes/value_names'][()], f['attributes/value_offsets'][()]
    for a in range(len(names)):
        feed(struct.pack('<Q', int(vo[a + 1] - vo[a])))
        for x in vn[vo[a]:vo[a + 1]]: s(x)
feed(bytes([1 if cap is not None else 0]))
open(')PY" + out + R"PY(', 'w').write('fnv1a64:%016x' % h)
)PY"),
            0);
  EXPECT_EQ(testing::readFile(out), checksum);
}

TEST(DatasetTest, UnfinishedWriterLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.file("never.h5");
  {
    DatasetWriter writer(path, WriterOptions{});
    for (const auto& r : makeRecords(3, false, false)) writer.add(r);
    EXPECT_EQ(testing::tempLeftovers(dir.path().string()).size(), 1u);  // the writer's temporary
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(testing::tempLeftovers(dir.path().string()).empty());
}

TEST(DatasetTest, WriterIntoMissingDirectoryIsInputError) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/x.h5");
  testing::expectOneLineInputError([&] { DatasetWriter w(path, WriterOptions{}); },
                                   {path, "does not exist"});
}

}  // namespace
}  // namespace agreid::data
