#include "eval/detection/draw.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "moco/data/decode.h"

namespace moco {
namespace {

Image Black(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = 3;
  image.pixels.assign(image.num_bytes(), 0);
  return image;
}

Rgb At(const Image& image, int x, int y) {
  const uint8_t* p = image.pixels.data() + (static_cast<size_t>(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

bool IsColor(const Image& image, int x, int y, Rgb c) {
  const Rgb p = At(image, x, y);
  return p.r == c.r && p.g == c.g && p.b == c.b;
}

TEST(DrawRectangle, OutlinesTheRoundedPixelSpan) {
  Image image = Black(10, 8);
  // Columns round(2.2) = 2 .. round(7.6) - 1 = 7, rows round(1.4) = 1 .. round(6.5) - 1 = 6.
  DrawRectangle(&image, 2.2f, 1.4f, 7.6f, 6.5f, {255, 0, 0}, 1);
  const Rgb red{255, 0, 0}, black{0, 0, 0};
  for (int x = 2; x <= 7; ++x) {
    EXPECT_TRUE(IsColor(image, x, 1, red)) << x;
    EXPECT_TRUE(IsColor(image, x, 6, red)) << x;
  }
  for (int y = 1; y <= 6; ++y) {
    EXPECT_TRUE(IsColor(image, 2, y, red)) << y;
    EXPECT_TRUE(IsColor(image, 7, y, red)) << y;
  }
  EXPECT_TRUE(IsColor(image, 3, 3, black));  // inside
  EXPECT_TRUE(IsColor(image, 8, 3, black));  // right of the box
  EXPECT_TRUE(IsColor(image, 5, 7, black));  // below it
  EXPECT_TRUE(IsColor(image, 1, 1, black));  // left of it
  int colored = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 10; ++x) colored += !IsColor(image, x, y, black);
  EXPECT_EQ(colored, 6 * 2 + 4 * 2);
}

TEST(DrawRectangle, ClipsToTheImageAndThickensInward) {
  Image image = Black(6, 6);
  DrawRectangle(&image, -5.0f, -5.0f, 20.0f, 20.0f, {0, 255, 0}, 2);
  // The whole image is the box: a 2-pixel frame around a 2 x 2 black centre.
  int colored = 0;
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) colored += IsColor(image, x, y, {0, 255, 0});
  EXPECT_EQ(colored, 36 - 4);
  EXPECT_TRUE(IsColor(image, 2, 2, {0, 0, 0}));
  Image untouched = Black(6, 6);
  DrawRectangle(&untouched, 3.0f, 3.0f, 3.2f, 5.0f, {0, 255, 0}, 1);  // covers no pixel column
  DrawRectangle(&untouched, 7.0f, 1.0f, 9.0f, 5.0f, {0, 255, 0}, 1);  // outside
  EXPECT_EQ(untouched.pixels, Black(6, 6).pixels);
}

TEST(RenderDetections, GridWithTruthAndConfidentPredictions) {
  AnnotatedImage a{Black(4, 3), {{0.0f, 0.0f, 4.0f, 3.0f, 0, false}}, {}};
  AnnotatedImage b{Black(2, 5), {}, {{1, 0, 0.0f, 0.0f, 2.0f, 2.0f, 0.9f}, {1, 0, 0.0f, 3.0f, 2.0f, 5.0f, 0.2f}}};
  absl::StatusOr<Image> grid = RenderDetections({a, b}, 0.5f, 4);
  ASSERT_TRUE(grid.ok()) << grid.status();
  // Cells of the largest image (4 x 5), 8 px apart, side by side.
  EXPECT_EQ(grid->width, 4 + 8 + 4);
  EXPECT_EQ(grid->height, 5);
  EXPECT_TRUE(IsColor(*grid, 0, 0, kGroundTruthColor));
  EXPECT_TRUE(IsColor(*grid, 3, 2, kGroundTruthColor));
  EXPECT_TRUE(IsColor(*grid, 0, 4, {0, 0, 0}));   // below image a
  EXPECT_TRUE(IsColor(*grid, 6, 0, {0, 0, 0}));   // the gap
  EXPECT_TRUE(IsColor(*grid, 12, 0, kPredictionColor));  // b's confident box
  EXPECT_TRUE(IsColor(*grid, 12, 4, {0, 0, 0}));  // b's low-score box is not drawn
  absl::StatusOr<Image> rows = RenderDetections({a, b}, 0.5f, 1);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->width, 4);
  EXPECT_EQ(rows->height, 5 + 8 + 5);
  EXPECT_FALSE(RenderDetections({}, 0.5f, 4).ok());
  AnnotatedImage gray{Black(2, 2), {}, {}};
  gray.image.channels = 1;
  EXPECT_FALSE(RenderDetections({gray}, 0.5f, 4).ok());
}

TEST(WriteRgbPng, RoundTripsThroughTheDecoder) {
  Image image = Black(5, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7);
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/draw_test.png";
  ASSERT_TRUE(WriteRgbPng(image, path).ok());
  absl::StatusOr<Image> back = ReadImage(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->width, 5);
  EXPECT_EQ(back->height, 3);
  EXPECT_EQ(back->pixels, image.pixels);
  absl::Status bad = WriteRgbPng(image, "/nonexistent-dir/x.png");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("/nonexistent-dir/x.png"), std::string::npos);
}

}  // namespace
}  // namespace moco
