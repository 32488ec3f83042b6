#include "moco/data/pennfudan.h"

#include <algorithm>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/paths.h"
#include "moco/data/decode.h"
#include "moco/data/test_data.h"

namespace moco {

// Found by argument-dependent lookup, so it must sit in Box's namespace.
void PrintTo(const Box& box, std::ostream* os) {
  *os << "[" << box.x1 << ", " << box.y1 << ", " << box.x2 << ", " << box.y2 << ")";
}

namespace {

using ::testing::HasSubstr;

class PennFudanTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(DataPresent(root_ + "/Annotation")); }

  std::vector<PennFudanImage> Read(PennFudanSplit split) {
    absl::StatusOr<std::vector<PennFudanImage>> images = ReadPennFudan(root_, split);
    EXPECT_TRUE(images.ok()) << images.status();
    return images.ok() ? *images : std::vector<PennFudanImage>();
  }

  const std::string root_ = DataPath("pennfudan/PennFudanPed");
};

size_t CountBoxes(const std::vector<PennFudanImage>& images) {
  size_t boxes = 0;
  for (const PennFudanImage& image : images) boxes += image.boxes.size();
  return boxes;
}

TEST_F(PennFudanTest, ReadsAllImagesAndBoxes) {
  const std::vector<PennFudanImage> all = Read(PennFudanSplit::kAll);
  ASSERT_EQ(all.size(), 170u);
  EXPECT_EQ(CountBoxes(all), 423u);
  const PennFudanImage& first = all[0];
  EXPECT_EQ(first.name, "FudanPed00001");
  EXPECT_EQ(first.image_path, root_ + "/PNGImages/FudanPed00001.png");
  EXPECT_EQ(first.mask_path, root_ + "/PedMasks/FudanPed00001_mask.png");
  EXPECT_EQ(first.width, 559);
  EXPECT_EQ(first.height, 536);
  // (160, 182) - (302, 431) and (420, 171) - (535, 486), 1-based inclusive.
  EXPECT_THAT(first.boxes, ::testing::ElementsAre(Box{159, 181, 302, 431},
                                                  Box{419, 170, 535, 486}));
  EXPECT_EQ(all.back().name, "PennPed00096");
}

TEST_F(PennFudanTest, BoxesAreTheMaskExtentsHalfOpen) {
  // In this image the annotated boxes are exactly the extents of the instance masks, so it
  // pins down the box convention: x1 is the first pixel column, x2 one past the last.
  const std::vector<PennFudanImage> all = Read(PennFudanSplit::kAll);
  ASSERT_FALSE(all.empty());
  absl::StatusOr<Image> mask = ReadImage(all[0].mask_path);
  ASSERT_TRUE(mask.ok()) << mask.status();
  for (size_t k = 0; k < all[0].boxes.size(); ++k) {
    Box extent{mask->width, mask->height, 0, 0};
    for (int y = 0; y < mask->height; ++y) {
      for (int x = 0; x < mask->width; ++x) {
        if (mask->pixels[(static_cast<size_t>(y) * mask->width + x) * 3] != k + 1) continue;
        extent = Box{std::min(extent.x1, x), std::min(extent.y1, y), std::max(extent.x2, x + 1),
                     std::max(extent.y2, y + 1)};
      }
    }
    EXPECT_EQ(extent, all[0].boxes[k]) << "object " << k + 1;
  }
}

TEST_F(PennFudanTest, AnnotatedSizesMatchTheImages) {
  for (const PennFudanImage& image : Read(PennFudanSplit::kAll)) {
    absl::StatusOr<Image> decoded = ReadImage(image.image_path);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->width, image.width) << image.name;
    EXPECT_EQ(decoded->height, image.height) << image.name;
  }
}

TEST_F(PennFudanTest, SplitIsFixedDisjointAndMixesBothSources) {
  const std::vector<PennFudanImage> all = Read(PennFudanSplit::kAll);
  const std::vector<PennFudanImage> train = Read(PennFudanSplit::kTrain);
  const std::vector<PennFudanImage> test = Read(PennFudanSplit::kTest);
  ASSERT_EQ(train.size(), 120u);
  ASSERT_EQ(test.size(), 50u);
  EXPECT_EQ(CountBoxes(train) + CountBoxes(test), 423u);
  std::set<std::string> names;
  for (const auto& image : train) names.insert(image.name);
  for (const auto& image : test) names.insert(image.name);
  EXPECT_EQ(names.size(), 170u);
  // Of every 17 images in name order, the last 5 are test.
  EXPECT_EQ(train[11].name, all[11].name);
  EXPECT_EQ(test[0].name, all[12].name);
  EXPECT_EQ(test[4].name, all[16].name);
  EXPECT_EQ(train[12].name, all[17].name);
  auto count_prefix = [](const std::vector<PennFudanImage>& images, const std::string& prefix) {
    return std::count_if(images.begin(), images.end(),
                         [&](const PennFudanImage& i) { return i.name.rfind(prefix, 0) == 0; });
  };
  EXPECT_GT(count_prefix(test, "FudanPed"), 10);
  EXPECT_GT(count_prefix(test, "PennPed"), 10);
}

TEST(PennFudanReaderTest, MissingRootIsNotFound) {
  absl::StatusOr<std::vector<PennFudanImage>> images =
      ReadPennFudan("/nonexistent/PennFudanPed", PennFudanSplit::kAll);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(images.status().message(), HasSubstr("/nonexistent/PennFudanPed/Annotation"));
}

// --- Parsing ------------------------------------------------------------------------------

constexpr char kAnnotation[] = R"(# Compatible with PASCAL Annotation Version 1.00
Image filename : "PennFudanPed/PNGImages/FudanPed00001.png"
Image size (X x Y x C) : 559 x 536 x 3
Database : "The Penn-Fudan-Pedestrian Database"
Objects with ground truth : 2 { "PASpersonWalking" "PASpersonWalking" }
# Top left pixel co-ordinates : (1, 1)
Original label for object 1 "PASpersonWalking" : "PennFudanPed"
Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)
Pixel mask for object 1 "PASpersonWalking" : "PennFudanPed/PedMasks/FudanPed00001_mask.png"

Original label for object 2 "PASpersonWalking" : "PennFudanPed"
Bounding box for object 2 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (1, 1) - (559, 536)
Pixel mask for object 2 "PASpersonWalking" : "PennFudanPed/PedMasks/FudanPed00001_mask.png"
)";

TEST(PennFudanParseTest, ParsesAnnotation) {
  absl::StatusOr<PennFudanImage> image = ParsePennFudanAnnotation(kAnnotation, "a.txt");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->image_path, "PennFudanPed/PNGImages/FudanPed00001.png");
  EXPECT_EQ(image->mask_path, "PennFudanPed/PedMasks/FudanPed00001_mask.png");
  EXPECT_EQ(image->width, 559);
  EXPECT_EQ(image->height, 536);
  // A box over the whole image is [0, width) x [0, height).
  EXPECT_THAT(image->boxes,
              ::testing::ElementsAre(Box{159, 181, 302, 431}, Box{0, 0, 559, 536}));
}

TEST(PennFudanParseTest, WindowsLineEndingsParse) {
  const std::string crlf = absl::StrReplaceAll(kAnnotation, {{"\n", "\r\n"}});
  absl::StatusOr<PennFudanImage> image = ParsePennFudanAnnotation(crlf, "crlf.txt");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->boxes.size(), 2u);
}

// The error for kAnnotation with `from` replaced by `to`.
std::string ErrorAfter(const std::string& from, const std::string& to) {
  const std::string text = absl::StrReplaceAll(kAnnotation, {{from, to}});
  EXPECT_NE(text, kAnnotation) << "the replacement did not apply";
  absl::StatusOr<PennFudanImage> image = ParsePennFudanAnnotation(text, "Annotation/x.txt");
  EXPECT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(image.status().message());
}

TEST(PennFudanParseTest, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(ErrorAfter("(160, 182) - (302, 431)", "(160, 182) - (302)"),
              HasSubstr("Annotation/x.txt:8: cannot parse the bounding box: 'Bounding box"));
  EXPECT_THAT(ErrorAfter("(1, 1) - (559, 536)", "(1, 1) - (560, 536)"),
              HasSubstr("Annotation/x.txt:12: box is empty or outside the 559 x 536 image"));
  EXPECT_THAT(ErrorAfter("(160, 182) - (302, 431)", "(302, 182) - (160, 431)"),
              HasSubstr("Annotation/x.txt:8: box is empty"));
  EXPECT_THAT(ErrorAfter("559 x 536 x 3", "559 by 536"),
              HasSubstr("Annotation/x.txt:3: cannot parse the image size"));
  EXPECT_THAT(ErrorAfter("object 2 \"PASpersonWalking\" (Xmin",
                         "object 3 \"PASpersonWalking\" (Xmin"),
              HasSubstr("Annotation/x.txt:12: expected object 2"));
  EXPECT_THAT(ErrorAfter("ground truth : 2", "ground truth : 3"),
              HasSubstr("Annotation/x.txt: 'Objects with ground truth' declares 3 objects but "
                        "the file has 2 bounding boxes"));
  EXPECT_THAT(ErrorAfter("Image size (X x Y x C) : 559 x 536 x 3\n", ""),
              HasSubstr("Annotation/x.txt:7: bounding box before the 'Image size' line"));
  EXPECT_THAT(ErrorAfter("Image filename", "Image name"),
              HasSubstr("Annotation/x.txt: no 'Image filename' line"));
}

// Found by //fuzz:pennfudan_fuzzer: a second "Image size" line after a box shrank the image
// under it, and the box (x2 324 > 198) was accepted outside the image.
TEST(PennFudanParseTest, SecondImageSizeIsAnError) {
  const std::string text =
      "Image filename : \"PennFudanPed/PNGImages/FudanPed00003.png\"\n"
      "Image size (X x Y x C) : 396 x 397 x 3\n"
      "Objects with ground truth : 1 { \"PASpersonWalking\" }\n"
      "Bounding box for object 1 \"PASpersonWalking\" (Xmin, Ymin) - (Xmax, Ymax) : "
      "(168, 60) - (324, 338)\n"
      "Image size (X x Y x C) : 198 x 397 x 3\n";
  absl::StatusOr<PennFudanImage> image = ParsePennFudanAnnotation(text, "fuzz.txt");
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("fuzz.txt:5: a second image size"));
}

}  // namespace
}  // namespace moco
