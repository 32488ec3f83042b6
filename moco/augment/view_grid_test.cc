#include "moco/augment/view_grid.h"

#include <png.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "moco/augment/augment.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

Image Constant(int height, int width, int channels, uint8_t value) {
  return Image{height, width, channels,
               std::vector<uint8_t>(static_cast<size_t>(height) * width * channels, value)};
}

Image Gradient(int height, int width) {
  Image image{height, width, 3, std::vector<uint8_t>(static_cast<size_t>(height) * width * 3)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(y * width + x) * 3];
      p[0] = static_cast<uint8_t>(8 * x);
      p[1] = static_cast<uint8_t>(8 * y);
      p[2] = 128;
    }
  }
  return image;
}

const uint8_t* Pixel(const Image& image, int y, int x) {
  return &image.pixels[(static_cast<size_t>(y) * image.width + x) * image.channels];
}

fs::path TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base != nullptr ? base : "/tmp") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(RenderViewGridTest, LaysOutRowsAndColumns) {
  ViewGridOptions options;
  options.augment.recipe = AugmentRecipe::kCifar;
  options.augment.out_size = 32;
  options.pairs = 2;
  const absl::StatusOr<Image> grid =
      RenderViewGrid({Gradient(32, 32), Gradient(32, 32)}, options);
  ASSERT_TRUE(grid.ok()) << grid.status();
  // Auto scale 4: cells of 128; columns: gap, original, gap, then per pair an extra gap,
  // two cells and two gaps.
  EXPECT_EQ(grid->channels, 3);
  EXPECT_EQ(grid->width, 4 + 128 + 4 + 2 * (4 + 2 * (128 + 4)));
  EXPECT_EQ(grid->height, 4 + 2 * (128 + 4));
  EXPECT_EQ(Pixel(*grid, 0, 0)[0], 255);  // background

  // The first view of row 1 is AugmentView with ViewSeed(seed, epoch, 1, 0), de-normalised.
  std::vector<float> view(3 * 32 * 32);
  const Image source = Gradient(32, 32);
  AugmentView(source.pixels.data(), 32, 32, 3, options.augment, ViewSeed(0, 0, 1, 0),
              view.data());
  const int top = 4 + 1 * (128 + 4);
  const int left = 4 + 128 + 4 + 4;
  for (int c = 0; c < 3; ++c) {
    const float value =
        view[c * 32 * 32 + 5 * 32 + 7] * options.augment.stddev[c] + options.augment.mean[c];
    const int expected =
        static_cast<int>(std::lround(std::fmin(std::fmax(value, 0.0f), 1.0f) * 255));
    EXPECT_EQ(Pixel(*grid, top + 5 * 4 + 3, left + 7 * 4 + 1)[c], expected) << "channel " << c;
  }
}

TEST(RenderViewGridTest, OriginalKeepsItsAspectRatio) {
  ViewGridOptions options;
  options.augment.recipe = AugmentRecipe::kCifar;
  options.augment.out_size = 32;
  options.pairs = 0;
  options.scale = 1;
  options.gap = 0;
  // A 64x32 (tall) gray image fits as 32x16, centred: columns 0-7 and 24-31 stay white.
  const absl::StatusOr<Image> grid = RenderViewGrid({Constant(64, 32, 1, 10)}, options);
  ASSERT_TRUE(grid.ok()) << grid.status();
  ASSERT_EQ(grid->width, 32);
  ASSERT_EQ(grid->height, 32);
  EXPECT_EQ(Pixel(*grid, 16, 3)[0], 255);
  EXPECT_EQ(Pixel(*grid, 16, 28)[1], 255);
  EXPECT_EQ(Pixel(*grid, 16, 8)[2], 10);
  EXPECT_EQ(Pixel(*grid, 0, 23)[0], 10);
}

TEST(RenderViewGridTest, RejectsBadInput) {
  ViewGridOptions options;
  EXPECT_EQ(RenderViewGrid({}, options).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RenderViewGrid({Constant(8, 8, 2, 0)}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  Image short_pixels = Constant(8, 8, 3, 0);
  short_pixels.pixels.pop_back();
  EXPECT_EQ(RenderViewGrid({short_pixels}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.pairs = 100;  // 201 columns of 224 pixels
  EXPECT_EQ(RenderViewGrid({Constant(8, 8, 3, 0)}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WritePngTest, RoundTrips) {
  const Image image = Gradient(5, 7);
  const std::string path = (TempDir("png") / "gradient.png").string();
  ASSERT_TRUE(WritePng(image, path).ok());

  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&png, path.c_str())) << png.message;
  png.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(png));
  ASSERT_TRUE(png_image_finish_read(&png, nullptr, pixels.data(), 0, nullptr)) << png.message;
  EXPECT_EQ(png.width, 7u);
  EXPECT_EQ(png.height, 5u);
  EXPECT_EQ(pixels, image.pixels);
}

TEST(WritePngTest, ReportsErrors) {
  EXPECT_FALSE(WritePng(Constant(2, 2, 3, 0), "/nonexistent-folder/x.png").ok());
  EXPECT_EQ(WritePng(Constant(2, 2, 2, 0), "x.png").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ListImageFilesTest, FindsImagesRecursivelyAndSpreadsThem) {
  const fs::path dir = TempDir("images");
  fs::create_directories(dir / "b_class");
  for (const char* name : {"a.PNG", "b_class/c.jpg", "b_class/d.jpeg", "e.txt", "f.jpg"}) {
    std::ofstream(dir / name) << "x";
  }
  const absl::StatusOr<std::vector<std::string>> all = ListImageFiles(dir.string(), 0);
  ASSERT_TRUE(all.ok()) << all.status();
  const std::vector<std::string> expected = {
      (dir / "a.PNG").string(), (dir / "b_class/c.jpg").string(),
      (dir / "b_class/d.jpeg").string(), (dir / "f.jpg").string()};
  EXPECT_EQ(*all, expected);

  const absl::StatusOr<std::vector<std::string>> two = ListImageFiles(dir.string(), 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two, (std::vector<std::string>{expected[0], expected[2]}));
}

TEST(ListImageFilesTest, ReportsMissingAndEmptyFolders) {
  EXPECT_EQ(ListImageFiles("/nonexistent-folder", 4).status().code(),
            absl::StatusCode::kNotFound);
  const fs::path dir = TempDir("no_images");
  std::ofstream(dir / "notes.txt") << "x";
  EXPECT_EQ(ListImageFiles(dir.string(), 4).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace moco
