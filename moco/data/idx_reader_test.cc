#include "moco/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/data/decode.h"
#include "moco/data/test_data.h"

namespace moco {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FashionMnistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(DataPresent(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"));
    ASSERT_TRUE(DataPresent(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"));
  }
};

TEST_F(FashionMnistTest, TrainSplit) {
  absl::StatusOr<LabeledImages> train = ReadFashionMnist(kFashionMnistDir, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(train->height, 28);
  EXPECT_EQ(train->width, 28);
  EXPECT_EQ(train->channels, 1);
  EXPECT_EQ(train->pixels.size(), 60000u * 28 * 28);
  ASSERT_EQ(train->class_names.size(), 10u);
  EXPECT_EQ(train->class_names[9], "Ankle boot");
  // Known values (from Python's gzip module): the first labels, 6000 images per class, and
  // the first image's pixel sum.
  EXPECT_THAT(std::vector<int>(train->labels.begin(), train->labels.begin() + 10),
              ElementsAre(9, 0, 0, 3, 0, 2, 7, 2, 5, 5));
  std::vector<int> per_class(10, 0);
  for (int label : train->labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  EXPECT_THAT(per_class, ::testing::Each(6000));
  const uint8_t* first = train->image_data(0);
  EXPECT_EQ(std::accumulate(first, first + 28 * 28, int64_t{0}), 76247);
  EXPECT_EQ(std::accumulate(train->pixels.begin(), train->pixels.end(), int64_t{0}),
            3431114169);
}

TEST_F(FashionMnistTest, TestSplit) {
  absl::StatusOr<LabeledImages> test = ReadFashionMnist(kFashionMnistDir, /*train=*/false);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->pixels.size(), 10000u * 28 * 28);
  EXPECT_THAT(std::vector<int>(test->labels.begin(), test->labels.begin() + 5),
              ElementsAre(9, 2, 1, 1, 6));
}

TEST_F(FashionMnistTest, MaxImagesKeepsTheFirstImages) {
  absl::StatusOr<LabeledImages> all = ReadFashionMnist(kFashionMnistDir, false);
  absl::StatusOr<LabeledImages> some = ReadFashionMnist(kFashionMnistDir, false, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_TRUE(some.ok()) << some.status();
  ASSERT_EQ(some->size(), 100);
  EXPECT_TRUE(std::equal(some->pixels.begin(), some->pixels.end(), all->pixels.begin()));
  EXPECT_TRUE(std::equal(some->labels.begin(), some->labels.end(), all->labels.begin()));
  EXPECT_EQ(ReadFashionMnist(kFashionMnistDir, false, 20000)->size(), 10000);
  EXPECT_EQ(ReadFashionMnist(kFashionMnistDir, false, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Synthetic files ----------------------------------------------------------------------

void AppendUint32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

std::string ImagesFile(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                       size_t pixel_bytes) {
  std::string out;
  AppendUint32(&out, magic);
  AppendUint32(&out, count);
  AppendUint32(&out, rows);
  AppendUint32(&out, cols);
  for (size_t i = 0; i < pixel_bytes; ++i) out.push_back(static_cast<char>(i % 251));
  return out;
}

std::string LabelsFile(const std::vector<uint8_t>& labels) {
  std::string out;
  AppendUint32(&out, kIdxLabelsMagic);
  AppendUint32(&out, static_cast<uint32_t>(labels.size()));
  out.append(labels.begin(), labels.end());
  return out;
}

// Writes `bytes` gzip-compressed to $TEST_TMPDIR/`name` and returns the path.
std::string WriteGz(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  gzFile file = gzopen(path.c_str(), "wb");
  EXPECT_NE(file, nullptr);
  EXPECT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(file);
  return path;
}

TEST(IdxReaderTest, ReadsGzippedAndPlainFiles) {
  const std::string contents = ImagesFile(kIdxImagesMagic, 3, 2, 4, 3 * 2 * 4);
  const std::string gz = WriteGz("ok-images-idx3-ubyte.gz", contents);
  const std::string plain = TempPath("ok-images-idx3-ubyte");
  ASSERT_TRUE(WriteFile(plain, contents).ok());
  for (const std::string& path : {gz, plain}) {
    absl::StatusOr<IdxImages> images = ReadIdxImages(path);
    ASSERT_TRUE(images.ok()) << images.status();
    EXPECT_EQ(images->count_in_file, 3);
    EXPECT_EQ(images->rows, 2);
    EXPECT_EQ(images->cols, 4);
    EXPECT_EQ(std::string(images->pixels.begin(), images->pixels.end()), contents.substr(16));
  }
  absl::StatusOr<IdxImages> first = ReadIdxImages(gz, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->count_in_file, 3);
  EXPECT_EQ(first->pixels.size(), 8u);
}

TEST(IdxReaderTest, WrongMagicIsAnErrorNamingTheFile) {
  // A labels header where an images file is expected.
  const std::string path = WriteGz("bad-magic-idx3-ubyte.gz", LabelsFile({1, 2, 3}));
  absl::StatusOr<IdxImages> images = ReadIdxImages(path);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(images.status().message(),
            path + ": bad idx magic 0x00000801 (expected 0x00000803)");
  absl::StatusOr<IdxLabels> labels =
      ReadIdxLabels(WriteGz("images-as-labels.gz", ImagesFile(kIdxImagesMagic, 1, 1, 1, 1)));
  EXPECT_THAT(labels.status().message(), HasSubstr("bad idx magic 0x00000803"));
}

TEST(IdxReaderTest, TruncatedFileIsAnErrorNamingTheFile) {
  // The header declares 10 images of 28 x 28; the file holds 5.
  const std::string path =
      WriteGz("truncated-idx3-ubyte.gz", ImagesFile(kIdxImagesMagic, 10, 28, 28, 5 * 28 * 28));
  absl::StatusOr<IdxImages> images = ReadIdxImages(path);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(images.status().message(), HasSubstr(path + ": truncated"));
  // The first 5 images are all there.
  EXPECT_TRUE(ReadIdxImages(path, 5).ok());
  // A damaged count: reading stops at the data's end instead of allocating for 2^30 images.
  const std::string huge = WriteGz("huge-count-idx3-ubyte.gz",
                                   ImagesFile(kIdxImagesMagic, 1u << 30, 28, 28, 100));
  EXPECT_THAT(ReadIdxImages(huge).status().message(), HasSubstr(huge + ": truncated"));
  // A header cut short.
  const std::string stub = WriteGz("stub-idx3-ubyte.gz", std::string("\0\0\x08\x03\0\0", 6));
  EXPECT_THAT(ReadIdxImages(stub).status().message(), HasSubstr(stub + ": truncated"));
}

TEST(IdxReaderTest, ExtraDataIsAnError) {
  const std::string path =
      WriteGz("long-idx3-ubyte.gz", ImagesFile(kIdxImagesMagic, 2, 3, 3, 2 * 9 + 1));
  EXPECT_THAT(ReadIdxImages(path).status().message(),
              HasSubstr(path + ": more data than the header declares"));
}

TEST(IdxReaderTest, ImplausibleSizeIsAnError) {
  const std::string path =
      WriteGz("huge-idx3-ubyte.gz", ImagesFile(kIdxImagesMagic, 1, 0x7fffffff, 2, 0));
  EXPECT_THAT(ReadIdxImages(path).status().message(), HasSubstr(path + ": implausible"));
}

TEST(IdxReaderTest, DamagedGzipIsAnErrorNamingTheFile) {
  ASSERT_TRUE(DataPresent(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"));
  std::string bytes =
      *ReadFile(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
  bytes[bytes.size() / 2] ^= 0x10;
  const std::string path = TempPath("damaged-labels-idx1-ubyte.gz");
  ASSERT_TRUE(WriteFile(path, bytes).ok());
  absl::StatusOr<IdxLabels> labels = ReadIdxLabels(path);
  ASSERT_FALSE(labels.ok()) << "gzip's CRC must catch a flipped bit";
  EXPECT_THAT(labels.status().message(), HasSubstr(path));
}

TEST(IdxReaderTest, ParsesBytesWithTheFileChecks) {
  const std::string contents = ImagesFile(kIdxImagesMagic, 3, 2, 4, 3 * 2 * 4);
  absl::StatusOr<IdxImages> images = ParseIdxImages(contents, "mem.idx");
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(std::string(images->pixels.begin(), images->pixels.end()), contents.substr(16));
  EXPECT_EQ(ParseIdxImages(contents, "mem.idx", 1)->pixels.size(), 8u);
  absl::StatusOr<IdxLabels> labels = ParseIdxLabels(LabelsFile({7, 1}), "mem.idx");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(labels->labels, ElementsAre(7, 1));
  // A declared count larger than the bytes fails as truncated, before allocating for it.
  EXPECT_EQ(ParseIdxImages(ImagesFile(kIdxImagesMagic, 1u << 30, 28, 28, 100), "mem.idx")
                .status()
                .message(),
            "mem.idx: truncated: expected 841813590016 bytes of pixels (1073741824 images of "
            "28 x 28), the file has 100");
  EXPECT_THAT(ParseIdxImages(contents + "x", "mem.idx").status().message(),
              HasSubstr("mem.idx: more data than the header declares"));
  EXPECT_THAT(ParseIdxLabels("", "mem.idx").status().message(), HasSubstr("mem.idx: truncated"));
}

TEST(IdxReaderTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = TempPath("absent-images-idx3-ubyte.gz");
  absl::StatusOr<IdxImages> images = ReadIdxImages(path);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(images.status().message(), HasSubstr(path));
}

// A Fashion-MNIST-style folder of synthetic files.
std::string FakeFashionMnist(const std::string& name, uint32_t images, uint32_t labels,
                             uint8_t label_value) {
  const std::string dir = TempDir(name);
  WriteGz(name + "/train-images-idx3-ubyte.gz",
          ImagesFile(kIdxImagesMagic, images, 28, 28, images * 28 * 28));
  WriteGz(name + "/train-labels-idx1-ubyte.gz",
          LabelsFile(std::vector<uint8_t>(labels, label_value)));
  return dir;
}

TEST(IdxReaderTest, FashionMnistCountsMustMatch) {
  const std::string root = FakeFashionMnist("mismatch", 3, 4, 0);
  absl::StatusOr<LabeledImages> data = ReadFashionMnist(root, true);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(), root + "/train-images-idx3-ubyte.gz declares 3 images but " +
                                         root + "/train-labels-idx1-ubyte.gz declares 4 labels");
  // Also when only a prefix is read.
  EXPECT_FALSE(ReadFashionMnist(root, true, 2).ok());
}

TEST(IdxReaderTest, FashionMnistLabelsMustBeBelowTen) {
  const std::string root = FakeFashionMnist("bad-label", 2, 2, 10);
  absl::StatusOr<LabeledImages> data = ReadFashionMnist(root, true);
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(data.status().message(),
              HasSubstr(root + "/train-labels-idx1-ubyte.gz: label 10 at index 0"));
}

TEST(IdxReaderTest, FashionMnistReadsPlainFilesToo) {
  const std::string root = TempDir("plain");
  ASSERT_TRUE(WriteFile(root + "/t10k-images-idx3-ubyte",
                        ImagesFile(kIdxImagesMagic, 2, 28, 28, 2 * 28 * 28))
                  .ok());
  ASSERT_TRUE(WriteFile(root + "/t10k-labels-idx1-ubyte", LabelsFile({4, 7})).ok());
  absl::StatusOr<LabeledImages> data = ReadFashionMnist(root, false);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->labels, ElementsAre(4, 7));
}

TEST(IdxReaderTest, FashionMnistMissingFolderNamesTheFile) {
  absl::StatusOr<LabeledImages> data = ReadFashionMnist("/nonexistent/fmnist", true);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(),
              HasSubstr("/nonexistent/fmnist/train-images-idx3-ubyte.gz"));
}

}  // namespace
}  // namespace moco
