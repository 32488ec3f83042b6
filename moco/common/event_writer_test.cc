#include "moco/common/event_writer.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"
#include "tests/python_reference.h"

namespace moco {
namespace {

TEST(EventWriterTest, Crc32cKnownValues) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720, 32 zero bytes
}

TEST(EventWriterTest, TfRecordFraming) {
  const std::string record = TfRecord("abc");
  ASSERT_EQ(record.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(record[0], 3);  // little-endian length
  EXPECT_EQ(record.substr(12, 3), "abc");
}

TEST(EventWriterTest, TensorBoardReadsTheScalars) {
  const std::string dir = TempPath("events");
  std::filesystem::remove_all(dir);
  {
    absl::StatusOr<EventWriter> events = EventWriter::Open(dir);
    ASSERT_TRUE(events.ok()) << events.status();
    ASSERT_TRUE(events->Scalar("train/loss", 1, 5.25).ok());
    ASSERT_TRUE(events->Scalar("train/loss", 2, 4.5).ok());
    ASSERT_TRUE(events->Scalar("train/loss", 3, 4.125).ok());
    ASSERT_TRUE(events->Scalar("knn/top1", 3, 42.5).ok());
    ASSERT_TRUE(events->Scalar("knn/top1", 4, 0.0).ok());  // a zero is a point too
    ASSERT_TRUE(events->Flush().ok());
    EXPECT_NE(events->path().find("events.out.tfevents."), std::string::npos);
  }
  ASSERT_NO_FATAL_FAILURE(RunPython("moco/common/event_writer_test.py", dir));
}

TEST(EventWriterTest, UnwritableFolderIsAnError) {
  const std::string blocker = TempPath("not_a_dir");
  std::ofstream(blocker) << "x";
  absl::StatusOr<EventWriter> events = EventWriter::Open(blocker + "/sub");
  ASSERT_FALSE(events.ok());
  EXPECT_NE(std::string(events.status().message()).find(blocker), std::string::npos) << events.status();
}

}  // namespace
}  // namespace moco
