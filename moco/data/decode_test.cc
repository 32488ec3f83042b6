#include "moco/data/decode.h"

#include <png.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/paths.h"
#include "moco/data/test_data.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

// Reference values below come from PIL 13 (Image.open(path).convert("RGB")), the loader
// torchvision uses, so they also check that decoding matches it.
const std::string kJpeg = "cifar10-jpeg/train/airplane/0000.jpg";
const std::string kPng = "pennfudan/PennFudanPed/PNGImages/FudanPed00001.png";
const std::string kGrayPng = "pennfudan/PennFudanPed/PedMasks/FudanPed00001_mask.png";

std::string ReadReal(const std::string& relative) {
  const std::string path = DataPath(relative);
  EXPECT_TRUE(DataPresent(path));
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

int64_t Sum(const Image& image) {
  return std::accumulate(image.pixels.begin(), image.pixels.end(), int64_t{0});
}

std::vector<int> PixelAt(const Image& image, int y, int x) {
  const uint8_t* p = image.pixels.data() + (static_cast<size_t>(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

TEST(DecodeTest, JpegMatchesPil) {
  const std::string bytes = ReadReal(kJpeg);
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<Image> image = DecodeJpeg(bytes, kJpeg);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 32);
  EXPECT_EQ(image->width, 32);
  EXPECT_EQ(image->channels, 3);
  ASSERT_EQ(image->pixels.size(), 32u * 32u * 3u);
  EXPECT_EQ(PixelAt(*image, 0, 0), (std::vector<int>{200, 202, 197}));
  EXPECT_EQ(PixelAt(*image, 31, 31), (std::vector<int>{236, 236, 238}));
  EXPECT_EQ(Sum(*image), 456420);
}

TEST(DecodeTest, PngMatchesPil) {
  const std::string bytes = ReadReal(kPng);
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<Image> image = DecodePng(bytes, kPng);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 536);
  EXPECT_EQ(image->width, 559);
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(PixelAt(*image, 0, 0), (std::vector<int>{211, 200, 182}));
  EXPECT_EQ(PixelAt(*image, 535, 558), (std::vector<int>{187, 187, 187}));
  EXPECT_EQ(Sum(*image), 119543146);
}

TEST(DecodeTest, GrayPngBecomesRgbWithValuesKept) {
  // The instance mask: 8-bit gray, values 0 (background), 1 and 2 (two pedestrians).
  const std::string bytes = ReadReal(kGrayPng);
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<Image> image = DecodeImage(bytes, kGrayPng);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->channels, 3);
  for (size_t i = 0; i < image->pixels.size(); i += 3) {
    ASSERT_EQ(image->pixels[i], image->pixels[i + 1]);
    ASSERT_EQ(image->pixels[i], image->pixels[i + 2]);
  }
  EXPECT_EQ(*std::max_element(image->pixels.begin(), image->pixels.end()), 2);
  EXPECT_EQ(Sum(*image), 140049);  // PIL's sum over R, G and B
}

TEST(DecodeTest, DecodeImageDispatchesOnMagicBytesNotName) {
  const std::string jpeg = ReadReal(kJpeg);
  const std::string png = ReadReal(kPng);
  ASSERT_FALSE(jpeg.empty());
  ASSERT_FALSE(png.empty());
  absl::StatusOr<Image> from_jpeg = DecodeImage(jpeg, "misnamed.png");
  ASSERT_TRUE(from_jpeg.ok()) << from_jpeg.status();
  EXPECT_EQ(from_jpeg->width, 32);
  absl::StatusOr<Image> from_png = DecodeImage(png, "misnamed.jpg");
  ASSERT_TRUE(from_png.ok()) << from_png.status();
  EXPECT_EQ(from_png->width, 559);
}

TEST(DecodeTest, TruncatedJpegIsAnErrorNamingTheFile) {
  const std::string bytes = ReadReal(kJpeg);
  ASSERT_FALSE(bytes.empty());
  const std::string path = TempPath("truncated.jpg");
  ASSERT_TRUE(WriteFile(path, bytes.substr(0, bytes.size() / 2)).ok());
  // Through the file, as a dataset reader sees it.
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_FALSE(image.ok()) << "libjpeg's gray fill of a truncated file must not pass";
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(image.status().message(), HasSubstr(path));
  EXPECT_THAT(image.status().message(), HasSubstr("Premature end of JPEG file"));
}

TEST(DecodeTest, JpegWithOnlyAHeaderIsAnError) {
  absl::StatusOr<Image> image = DecodeJpeg(std::string("\xFF\xD8\xFF\xE0", 4), "stub.jpg");
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr("stub.jpg"));
}

// The offset of the first chunk of `type` in a PNG, or npos.
size_t FindChunk(const std::string& png, const std::string& type) {
  size_t offset = 8;  // after the signature
  while (offset + 8 <= png.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data()) + offset;
    const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    if (png.compare(offset + 4, 4, type) == 0) return offset;
    offset += 12 + length;  // length, type, data, CRC
  }
  return std::string::npos;
}

TEST(DecodeTest, PngWithBadIhdrCrcIsAnErrorNamingTheFile) {
  std::string bytes = ReadReal(kPng);
  ASSERT_FALSE(bytes.empty());
  // Signature (8) + IHDR length (4) + type (4) + data (13): the CRC starts at byte 29.
  ASSERT_EQ(FindChunk(bytes, "IHDR"), 8u);
  bytes[29] ^= 0x01;
  const std::string path = TempPath("bad_ihdr_crc.png");
  ASSERT_TRUE(WriteFile(path, bytes).ok());
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(image.status().message(), HasSubstr(path));
  EXPECT_THAT(image.status().message(), HasSubstr("CRC"));
}

TEST(DecodeTest, PngWithCorruptIdatIsAnErrorNamingTheFile) {
  std::string bytes = ReadReal(kPng);
  ASSERT_FALSE(bytes.empty());
  const size_t idat = FindChunk(bytes, "IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes[idat + 8 + 100] ^= 0x01;  // a byte of compressed image data; the CRC no longer fits
  const std::string path = TempPath("bad_idat.png");
  ASSERT_TRUE(WriteFile(path, bytes).ok());
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr(path));
  EXPECT_THAT(image.status().message(), HasSubstr("CRC"));
}

TEST(DecodeTest, PngWithBadAncillaryOrEndCrcIsAnError) {
  // libpng by default only warns about a bad CRC in an ancillary chunk (here tIME), and
  // checks IEND's CRC only if asked to read past the image data.
  const std::string bytes = ReadReal(kPng);
  ASSERT_FALSE(bytes.empty());
  const size_t time_chunk = FindChunk(bytes, "tIME");
  ASSERT_NE(time_chunk, std::string::npos) << "the test image should carry a tIME chunk";
  std::string bad_time = bytes;
  bad_time[time_chunk + 8 + 7] ^= 0x01;  // first byte of tIME's CRC (7 data bytes)
  absl::StatusOr<Image> image = DecodePng(bad_time, "bad_time.png");
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr("bad_time.png: corrupt PNG: tIME: CRC"));

  std::string bad_end = bytes;
  bad_end.back() ^= 0x01;  // the file ends with IEND's CRC
  image = DecodePng(bad_end, "bad_end.png");
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr("bad_end.png: corrupt PNG: IEND: CRC"));
}

TEST(DecodeTest, TruncatedPngIsAnErrorNamingTheFile) {
  const std::string bytes = ReadReal(kPng);
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<Image> image = DecodePng(bytes.substr(0, bytes.size() / 2), "half.png");
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr("half.png"));
  EXPECT_THAT(image.status().message(), HasSubstr("truncated"));
}

// Encodes `pixels` (in `format`) with libpng's simplified writer.
std::string EncodePng(int width, int height, uint32_t format, const void* pixels,
                      const void* colormap = nullptr, int colormap_entries = 0) {
  png_image image = {};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = format;
  image.colormap_entries = colormap_entries;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_get_memory_size(image, size, 0, pixels, 0, colormap))
      << image.message;
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, &out[0], &size, 0, pixels, 0, colormap))
      << image.message;
  out.resize(size);
  return out;
}

TEST(DecodeTest, PngAlphaIsDropped) {
  const uint8_t rgba[] = {10, 20, 30, 0, 40, 50, 60, 255};  // 2 x 1, one transparent pixel
  absl::StatusOr<Image> image = DecodePng(EncodePng(2, 1, PNG_FORMAT_RGBA, rgba), "rgba.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(image->pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
}

TEST(DecodeTest, PngGrayAlphaBecomesRgb) {
  const uint8_t gray_alpha[] = {7, 128, 200, 255};
  absl::StatusOr<Image> image = DecodePng(EncodePng(2, 1, PNG_FORMAT_GA, gray_alpha), "ga.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels, (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
}

TEST(DecodeTest, PngPaletteIsExpanded) {
  const uint8_t colormap[] = {255, 0, 0, 0, 0, 255};  // red, blue
  const uint8_t indices[] = {1, 0, 0};
  absl::StatusOr<Image> image =
      DecodePng(EncodePng(3, 1, PNG_FORMAT_RGB_COLORMAP, indices, colormap, 2), "palette.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels, (std::vector<uint8_t>{0, 0, 255, 255, 0, 0, 255, 0, 0}));
}

TEST(DecodeTest, Png16BitBecomes8Bit) {
  const uint16_t linear_rgb[] = {0, 65535, 0};
  absl::StatusOr<Image> image =
      DecodePng(EncodePng(1, 1, PNG_FORMAT_LINEAR_RGB, linear_rgb), "deep.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels, (std::vector<uint8_t>{0, 255, 0}));
}

TEST(DecodeTest, UnknownFormatIsAnErrorNamingTheSource) {
  absl::StatusOr<Image> image = DecodeImage("GIF89a....", "cat.gif");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("cat.gif: not a JPEG or PNG"));
  EXPECT_THAT(DecodeImage("", "empty.jpg").status().message(), HasSubstr("empty.jpg"));
}

TEST(DecodeTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = TempPath("does/not/exist.jpg");
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(bytes.status().message(), HasSubstr(path));
  EXPECT_EQ(ReadImage(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(DecodeTest, ReadingAFolderIsAnError) {
  const std::string folder = TempDir("a_folder");
  absl::StatusOr<std::string> bytes = ReadFile(folder);
  ASSERT_FALSE(bytes.ok());
  EXPECT_THAT(bytes.status().message(), HasSubstr(folder));
}

}  // namespace
}  // namespace moco
