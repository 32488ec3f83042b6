#include "moco/data/decode.h"

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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
using ::testing::StartsWith;

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

// As a std::string, which gmock's StartsWith needs.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

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
  EXPECT_THAT(Message(image.status()), StartsWith(path + ": corrupt JPEG"));
  EXPECT_THAT(image.status().message(), HasSubstr("Premature end of JPEG file"));
}

// Bytes between the last scan and the end marker ("N extraneous bytes before marker 0xd9"):
// libjpeg skips them and every pixel is decoded, so the image equals the clean file's, as PIL
// loads it. (A file cut short in its scan stays an error: TruncatedJpegIsAnErrorNamingTheFile.)
TEST(DecodeTest, ExtraneousBytesBeforeAMarkerAreSkippedAsPilDoes) {
  const std::string bytes = ReadReal(kJpeg);
  ASSERT_GT(bytes.size(), 2u);
  ASSERT_EQ(bytes.substr(bytes.size() - 2), "\xFF\xD9");
  const std::string padded = bytes.substr(0, bytes.size() - 2) + std::string(16, '\x42') + "\xFF\xD9";
  absl::StatusOr<Image> clean = DecodeJpeg(bytes, "clean.jpg");
  absl::StatusOr<Image> image = DecodeJpeg(padded, "padded.jpg");
  ASSERT_TRUE(clean.ok() && image.ok()) << image.status();
  EXPECT_EQ(image->pixels, clean->pixels);
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

// --- CMYK and YCCK JPEGs, checked against PIL ---------------------------------------------

// Files made by testdata/make_cmyk_fixtures.py (see testdata/README.md), with PIL's
// Image.open(path).convert("RGB") of each as a PNG.
const std::string kTestdata = "moco/data/testdata/";

std::string ReadTestdata(const std::string& name) {
  absl::StatusOr<std::string> bytes = ReadFile(kTestdata + name);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// Fails with how many samples differ and by how much at most, unless `actual` equals
// `expected` exactly.
void ExpectSamePixels(const Image& actual, const Image& expected) {
  ASSERT_EQ(actual.height, expected.height);
  ASSERT_EQ(actual.width, expected.width);
  ASSERT_EQ(actual.channels, expected.channels);
  int differing = 0;
  int max_difference = 0;
  for (size_t i = 0; i < actual.pixels.size(); ++i) {
    const int difference = std::abs(actual.pixels[i] - expected.pixels[i]);
    differing += difference != 0;
    max_difference = std::max(max_difference, difference);
  }
  EXPECT_EQ(differing, 0) << "of " << actual.pixels.size() << " samples differ, by up to "
                          << max_difference;
}

// Decodes the JPEG `bytes` and compares it with PIL's RGB, testdata/`pil_png_name`.
void ExpectMatchesPil(const std::string& bytes, const std::string& pil_png_name) {
  absl::StatusOr<Image> image = DecodeImage(bytes, "test.jpg");
  ASSERT_TRUE(image.ok()) << image.status();
  absl::StatusOr<Image> pil = DecodePng(ReadTestdata(pil_png_name), pil_png_name);
  ASSERT_TRUE(pil.ok()) << pil.status();
  ASSERT_EQ(pil->width, 61);
  ASSERT_EQ(pil->height, 43);
  ExpectSamePixels(*image, *pil);
}

TEST(DecodeCmykTest, AdobeCmykJpegMatchesPil) {
  // Written by Pillow: an Adobe marker with transform 0 (CMYK), samples stored inverted.
  ExpectMatchesPil(ReadTestdata("cmyk.jpg"), "cmyk_pil_rgb.png");
}

TEST(DecodeCmykTest, AdobeYcckJpegMatchesPil) {
  // An Adobe marker with transform 2 (YCCK), Y and K subsampled 2 x 2: libjpeg converts it
  // to CMYK (upsampling as for PIL), then the same inverted-CMYK conversion applies.
  ExpectMatchesPil(ReadTestdata("ycck.jpg"), "ycck_pil_rgb.png");
}

TEST(DecodeCmykTest, CmykJpegWithoutAdobeMarkerIsAlsoInverted) {
  // PIL reads every 4-channel JPEG as inverted CMYK ("CMYK;I"), Adobe marker or not; Pillow
  // 13 gives the same RGB for cmyk.jpg with its APP14 (Adobe) segment removed.
  const std::string bytes = ReadTestdata("cmyk.jpg");
  ASSERT_GT(bytes.size(), 6u);
  ASSERT_EQ(bytes.substr(2, 2), "\xFF\xEE") << "Pillow writes APP14 right after SOI";
  const size_t length = (size_t{static_cast<unsigned char>(bytes[4])} << 8) |
                        static_cast<unsigned char>(bytes[5]);
  ExpectMatchesPil(bytes.substr(0, 2) + bytes.substr(4 + length), "cmyk_pil_rgb.png");
}

TEST(DecodeCmykTest, TruncatedCmykJpegIsAnErrorNamingTheFile) {
  const std::string bytes = ReadTestdata("cmyk.jpg");
  absl::StatusOr<Image> image = DecodeImage(bytes.substr(0, bytes.size() - 100), "cmyk.jpg");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(image.status()), StartsWith("cmyk.jpg: corrupt JPEG"));
}

// --- Encoded here: grayscale, and a photo for scaled decoding -----------------------------

// Encodes `image` (channels 1: grayscale, 3: RGB) as a baseline JPEG with libjpeg's defaults
// (4:2:0 chroma subsampling for RGB).
std::string EncodeJpeg(const Image& image, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = image.width;
  cinfo.image_height = image.height;
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data()) + cinfo.next_scanline * row_bytes;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return out;
}

TEST(DecodeTest, GrayJpegBecomesRgbWithEqualChannels) {
  Image gray{9, 17, 1, {}};  // a diagonal ramp
  for (int y = 0; y < gray.height; ++y) {
    for (int x = 0; x < gray.width; ++x) gray.pixels.push_back(static_cast<uint8_t>(10 * x + y));
  }
  absl::StatusOr<Image> image = DecodeJpeg(EncodeJpeg(gray, 100), "gray.jpg");
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->height, 9);
  ASSERT_EQ(image->width, 17);
  ASSERT_EQ(image->channels, 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    ASSERT_EQ(image->pixels[3 * i], image->pixels[3 * i + 1]) << "pixel " << i;
    ASSERT_EQ(image->pixels[3 * i], image->pixels[3 * i + 2]) << "pixel " << i;
    ASSERT_NEAR(image->pixels[3 * i], gray.pixels[i], 2) << "pixel " << i;
  }
}

// The Penn-Fudan photo as a JPEG of 559 x 535 (its last row dropped): neither side is a
// multiple of 8, so every scale has a partial last block.
std::string PhotoJpeg() {
  absl::StatusOr<Image> photo = DecodePng(ReadReal(kPng), kPng);
  EXPECT_TRUE(photo.ok()) << photo.status();
  if (!photo.ok()) return std::string();
  photo->height = 535;
  photo->pixels.resize(photo->num_bytes());
  return EncodeJpeg(*photo, 90);
}

// `image` shrunk by `denom` with a box filter: each output pixel is the rounded mean of its
// denom x denom block (clipped at the right and bottom edges).
Image BoxDownsample(const Image& image, int denom) {
  Image out{(image.height + denom - 1) / denom, (image.width + denom - 1) / denom, 3, {}};
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        int count = 0;
        for (int yy = y * denom; yy < std::min((y + 1) * denom, image.height); ++yy) {
          for (int xx = x * denom; xx < std::min((x + 1) * denom, image.width); ++xx) {
            sum += image.pixels[(static_cast<size_t>(yy) * image.width + xx) * 3 + c];
            ++count;
          }
        }
        out.pixels.push_back(static_cast<uint8_t>((sum + count / 2) / count));
      }
    }
  }
  return out;
}

TEST(DecodeScaledTest, JpegScalesToCeilSizesCloseToABoxFilter) {
  const std::string bytes = PhotoJpeg();
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<Image> full = DecodeImage(bytes, "photo.jpg");
  ASSERT_TRUE(full.ok()) << full.status();
  absl::StatusOr<Image> unscaled = DecodeImageScaled(bytes, "photo.jpg", 1);
  ASSERT_TRUE(unscaled.ok()) << unscaled.status();
  EXPECT_EQ(unscaled->pixels, full->pixels);
  // {denom, height, width}: ceil(535 / denom) x ceil(559 / denom).
  const int cases[][3] = {{2, 268, 280}, {4, 134, 140}, {8, 67, 70}};
  for (const auto& [denom, height, width] : cases) {
    absl::StatusOr<Image> scaled = DecodeImageScaled(bytes, "photo.jpg", denom);
    ASSERT_TRUE(scaled.ok()) << scaled.status();
    EXPECT_EQ(scaled->height, height) << "1/" << denom;
    EXPECT_EQ(scaled->width, width) << "1/" << denom;
    EXPECT_EQ(scaled->channels, 3);
    const Image box = BoxDownsample(*full, denom);
    ASSERT_EQ(scaled->pixels.size(), box.pixels.size()) << "1/" << denom;
    int64_t total_difference = 0;
    int max_difference = 0;
    for (size_t i = 0; i < box.pixels.size(); ++i) {
      const int difference = std::abs(scaled->pixels[i] - box.pixels[i]);
      total_difference += difference;
      max_difference = std::max(max_difference, difference);
    }
    // Measured (libjpeg-turbo 2.1.5): mean 0.50, 0.46, 0.38 and max 19, 26, 15 at 1/2, 1/4,
    // 1/8. DCT scaling is not a box filter, so single samples stray at sharp edges.
    const double mean_difference = static_cast<double>(total_difference) / box.pixels.size();
    EXPECT_LE(mean_difference, 0.75) << "1/" << denom;
    EXPECT_LE(max_difference, 32) << "1/" << denom;
  }
}

TEST(DecodeScaledTest, PngIsDecodedAtFullSize) {
  absl::StatusOr<Image> image = DecodeImageScaled(ReadReal(kPng), kPng, 8);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 536);
  EXPECT_EQ(image->width, 559);
}

TEST(DecodeScaledTest, CmykJpegScales) {
  absl::StatusOr<Image> image = DecodeImageScaled(ReadTestdata("cmyk.jpg"), "cmyk.jpg", 4);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 11);  // ceil(43 / 4)
  EXPECT_EQ(image->width, 16);   // ceil(61 / 4)
}

TEST(DecodeScaledTest, OtherScalesAreInvalid) {
  const std::string bytes = ReadReal(kJpeg);
  for (int denom : {0, 3, 16, -2}) {
    absl::StatusOr<Image> image = DecodeImageScaled(bytes, "x.jpg", denom);
    ASSERT_FALSE(image.ok()) << denom;
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(image.status()), StartsWith("x.jpg: scale_denom must be"));
  }
}

TEST(DecodeScaledTest, TruncatedJpegIsAnErrorAtEveryScale) {
  // Even at 1/8 libjpeg reads all of the entropy-coded data, so it notices the end is missing.
  const std::string bytes = PhotoJpeg();
  ASSERT_FALSE(bytes.empty());
  const std::string half = bytes.substr(0, bytes.size() / 2);
  for (int denom : {1, 2, 4, 8}) {
    absl::StatusOr<Image> image = DecodeImageScaled(half, "half.jpg", denom);
    ASSERT_FALSE(image.ok()) << denom;
    EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(Message(image.status()), StartsWith("half.jpg: corrupt JPEG"));
  }
}

// --- Sizes from headers -------------------------------------------------------------------

TEST(ReadImageSizeTest, MatchesTheDecodedSize) {
  const std::vector<std::string> images = {ReadReal(kJpeg), ReadReal(kPng), ReadReal(kGrayPng),
                                           ReadTestdata("cmyk.jpg"), PhotoJpeg()};
  for (size_t i = 0; i < images.size(); ++i) {
    absl::StatusOr<ImageSize> size = ReadImageSize(images[i], "image");
    ASSERT_TRUE(size.ok()) << i << ": " << size.status();
    absl::StatusOr<Image> image = DecodeImage(images[i], "image");
    ASSERT_TRUE(image.ok()) << i << ": " << image.status();
    EXPECT_EQ(size->height, image->height) << i;
    EXPECT_EQ(size->width, image->width) << i;
  }
}

TEST(ReadImageSizeTest, DamagedHeadersAreErrorsNamingTheSource) {
  absl::StatusOr<ImageSize> size = ReadImageSize(std::string("\xFF\xD8\xFF\xE0", 4), "stub.jpg");
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(size.status()), StartsWith("stub.jpg: corrupt JPEG"));

  std::string png = ReadReal(kPng);
  ASSERT_FALSE(png.empty());
  png[29] ^= 0x01;  // IHDR's CRC (see PngWithBadIhdrCrcIsAnErrorNamingTheFile)
  size = ReadImageSize(png, "bad_ihdr.png");
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(size.status()), StartsWith("bad_ihdr.png: corrupt PNG"));

  size = ReadImageSize("GIF89a....", "cat.gif");
  EXPECT_EQ(size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(size.status()), StartsWith("cat.gif: not a JPEG or PNG"));
}

// --- Files as ImageNet has them -----------------------------------------------------------

TEST(DecodeTest, PngNamedJpegDecodes) {
  // ImageNet's training set holds a PNG named .JPEG (n02105855_2933.JPEG).
  const std::string path = TempPath("n02105855/n02105855_2933.JPEG");
  ASSERT_TRUE(WriteFile(path, ReadReal(kPng)).ok());
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 536);
  EXPECT_EQ(image->width, 559);
  EXPECT_EQ(Sum(*image), 119543146);  // as PngMatchesPil
}

TEST(DecodeTest, ZeroByteFileIsAnErrorNamingTheFile) {
  const std::string path = TempPath("n01440764/empty.JPEG");
  ASSERT_TRUE(WriteFile(path, "").ok());
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(image.status().message(), path + ": file is empty");
  EXPECT_EQ(DecodeImageScaled("", path, 4).status(), image.status());
  EXPECT_EQ(ReadImageSize("", path).status(), image.status());
  // Named as a JPEG, it is damaged rather than of an unknown kind.
  EXPECT_EQ(DecodeJpeg("", path).status(),
            absl::DataLossError(path + ": corrupt JPEG: file is empty"));
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
