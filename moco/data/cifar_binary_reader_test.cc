#include "moco/data/cifar_binary_reader.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/paths.h"
#include "moco/data/image_folder.h"
#include "moco/data/test_data.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

// The official binary set is not installed here (tools/setup.sh fetches the JPEG copy from
// its mirror), so batch files are written from real CIFAR-10 JPEG pixels instead.
class CifarBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string root = DataPath("cifar10-jpeg/train");
    ASSERT_TRUE(DataPresent(root));
    ImageFolderOptions options;
    options.max_images = 20;  // two per class
    absl::StatusOr<LabeledImages> images = ReadImageFolder(root, options);
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
  }

  // Records [begin, end) of images_ in the binary format: label, then R, G, B planes.
  std::string Records(int begin, int end) const {
    std::string out;
    for (int i = begin; i < end; ++i) {
      out.push_back(static_cast<char>(images_.labels[i]));
      const uint8_t* hwc = images_.image_data(i);
      for (int c = 0; c < 3; ++c) {
        for (int p = 0; p < kCifarSide * kCifarSide; ++p) out.push_back(hwc[p * 3 + c]);
      }
    }
    return out;
  }

  // Expects `read` to hold images_[begin, end) exactly.
  void ExpectSameAs(const LabeledImages& read, int begin, int end) const {
    ASSERT_EQ(read.size(), end - begin);
    EXPECT_EQ(read.height, 32);
    EXPECT_EQ(read.width, 32);
    EXPECT_EQ(read.channels, 3);
    for (int i = 0; i < read.size(); ++i) {
      EXPECT_EQ(read.labels[i], images_.labels[begin + i]) << "image " << i;
      EXPECT_TRUE(std::equal(read.image_data(i), read.image_data(i) + kCifarImageBytes,
                             images_.image_data(begin + i)))
          << "pixels of image " << i;
    }
  }

  LabeledImages images_;
};

TEST_F(CifarBinaryTest, RoundTripsRealPixels) {
  const std::string path = TempPath("roundtrip/data_batch_1.bin");
  ASSERT_TRUE(WriteFile(path, Records(0, 20)).ok());
  absl::StatusOr<LabeledImages> read = ReadCifar10BinaryFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameAs(*read, 0, 20);
  // The JPEG folders sort classes by name, which is also CIFAR-10's label order.
  EXPECT_EQ(read->class_names, images_.class_names);
}

TEST_F(CifarBinaryTest, ReadsTrainBatchesInOrderAndTestBatch) {
  const std::string root = TempDir("batches");
  for (int b = 0; b < 5; ++b) {  // 4 records per batch
    ASSERT_TRUE(
        WriteFile(root + "/data_batch_" + std::to_string(b + 1) + ".bin", Records(4 * b, 4 * b + 4))
            .ok());
  }
  ASSERT_TRUE(WriteFile(root + "/test_batch.bin", Records(5, 8)).ok());

  absl::StatusOr<LabeledImages> train = ReadCifar10Binary(root, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status();
  ExpectSameAs(*train, 0, 20);
  absl::StatusOr<LabeledImages> test = ReadCifar10Binary(root, /*train=*/false);
  ASSERT_TRUE(test.ok()) << test.status();
  ExpectSameAs(*test, 5, 8);
  absl::StatusOr<LabeledImages> first = ReadCifar10Binary(root, /*train=*/true, 6);
  ASSERT_TRUE(first.ok()) << first.status();
  ExpectSameAs(*first, 0, 6);
}

TEST_F(CifarBinaryTest, SizeNotAMultipleOfTheRecordIsAnErrorNamingTheFile) {
  const std::string path = TempPath("truncated/data_batch_1.bin");
  const std::string records = Records(0, 3);
  ASSERT_TRUE(WriteFile(path, records.substr(0, records.size() - 100)).ok());
  absl::StatusOr<LabeledImages> read = ReadCifar10BinaryFile(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(),
              HasSubstr(path + ": size 9119 is not a multiple of 3073"));
}

TEST_F(CifarBinaryTest, LabelOutOfRangeIsAnErrorNamingTheFile) {
  std::string records = Records(0, 3);
  records[2 * kCifarRecordBytes] = 10;  // label byte of record 2
  const std::string path = TempPath("bad_label/test_batch.bin");
  ASSERT_TRUE(WriteFile(path, records).ok());
  EXPECT_THAT(ReadCifar10BinaryFile(path).status().message(),
              HasSubstr(path + ": record 2 has label 10"));
}

TEST_F(CifarBinaryTest, ParsesBytesWithTheFileChecks) {
  absl::StatusOr<LabeledImages> read = ParseCifar10Batch(Records(0, 3), "mem.bin");
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameAs(*read, 0, 3);
  EXPECT_THAT(ParseCifar10Batch("", "mem.bin").status().message(),
              HasSubstr("mem.bin: file is empty"));
  EXPECT_THAT(ParseCifar10Batch(Records(0, 1) + "x", "mem.bin").status().message(),
              HasSubstr("mem.bin: size 3074 is not a multiple of 3073"));
}

TEST(CifarBinaryReaderTest, EmptyOrMissingFilesAreErrorsNamingThem) {
  const std::string root = TempDir("incomplete");
  ASSERT_TRUE(WriteFile(root + "/data_batch_1.bin", "").ok());
  EXPECT_THAT(ReadCifar10BinaryFile(root + "/data_batch_1.bin").status().message(),
              HasSubstr(root + "/data_batch_1.bin: file is empty"));
  absl::StatusOr<LabeledImages> test = ReadCifar10Binary(root, /*train=*/false);
  EXPECT_EQ(test.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(test.status().message(), HasSubstr(root + "/test_batch.bin"));
}

}  // namespace
}  // namespace moco
