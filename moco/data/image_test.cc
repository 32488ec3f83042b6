#include "moco/data/image.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(LabeledImagesTest, ImagesAreConsecutiveHwcSlices) {
  LabeledImages data;
  data.height = 2;
  data.width = 3;
  data.channels = 2;
  data.labels = {0, 1};
  data.class_names = {"a", "b"};
  for (int i = 0; i < 2 * 2 * 3 * 2; ++i) data.pixels.push_back(static_cast<uint8_t>(i));

  EXPECT_EQ(data.size(), 2);
  EXPECT_EQ(data.image_bytes(), 12u);
  EXPECT_EQ(data.image_data(1), data.pixels.data() + 12);
  const Image second = data.ImageAt(1);
  EXPECT_EQ(second.height, 2);
  EXPECT_EQ(second.width, 3);
  EXPECT_EQ(second.channels, 2);
  ASSERT_EQ(second.num_bytes(), 12u);
  // Pixel (y=1, x=2), channel 1 of image 1: 12 + (1 * 3 + 2) * 2 + 1.
  EXPECT_EQ(second.pixels[(1 * 3 + 2) * 2 + 1], 23);
}

}  // namespace
}  // namespace moco
