#include "eval/detection/annotations.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/paths.h"

namespace moco {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// $TEST_TMPDIR/name, created as a folder.
std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path path = fs::path(tmp != nullptr ? tmp : fs::temp_directory_path().string()) / name;
  fs::create_directories(path);
  return path.string();
}

void WriteFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string BoxText(const GroundTruthBox& b) {
  return absl::StrCat("[", b.x1, ", ", b.y1, ", ", b.x2, ", ", b.y2, ") label ", b.label, b.crowd ? " crowd" : "");
}

MATCHER_P6(IsBox, x1, y1, x2, y2, label, crowd, "") {
  *result_listener << BoxText(arg);
  return arg.x1 == x1 && arg.y1 == y1 && arg.x2 == x2 && arg.y2 == y2 && arg.label == label && arg.crowd == crowd;
}

// ---- COCO JSON ----

// Images a.jpg (id 7, 100 x 80), b.jpg (id 3, 50 x 50, no boxes) under root/imgs; categories listed out of
// id order. `annotations` is the JSON array text.
std::string CocoJson(const std::string& annotations) {
  return absl::StrCat(R"({"images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80},
                                    {"id": 3, "file_name": "b.jpg", "width": 50, "height": 50}],
                         "categories": [{"id": 5, "name": "dog"}, {"id": 2, "name": "cat"}],
                         "annotations": )",
                      annotations, "}");
}

class CocoJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempDir("coco/imgs");
    WriteFile(root_ + "/a.jpg", "");
    WriteFile(root_ + "/b.jpg", "");
  }

  // Writes `text` as a fresh JSON file and reads it.
  absl::StatusOr<DetectionDataset> Read(const std::string& text, std::string* path = nullptr) {
    const std::string json_path = absl::StrCat(TempDir("coco"), "/case", ++count_, ".json");
    WriteFile(json_path, text);
    if (path != nullptr) *path = json_path;
    return ReadCocoJson(json_path, root_);
  }

  // Expects reading `text` to fail with a message naming the file and containing `what`.
  void ExpectError(const std::string& text, const std::string& what) {
    std::string path;
    const absl::StatusOr<DetectionDataset> data = Read(text, &path);
    ASSERT_FALSE(data.ok()) << "accepted: " << text;
    EXPECT_THAT(std::string(data.status().message()), AllOf(HasSubstr(path), HasSubstr(what)));
  }

  std::string root_;
  int count_ = 0;
};

TEST_F(CocoJsonTest, ReadsImagesBoxesAndCategories) {
  const absl::StatusOr<DetectionDataset> data = Read(CocoJson(R"([
      {"id": 1, "image_id": 7, "category_id": 5, "bbox": [10, 20, 30, 40], "iscrowd": 0, "area": 1},
      {"id": 2, "image_id": 7, "category_id": 2, "bbox": [0.5, 0, 99.5, 80], "iscrowd": 1},
      {"id": 3, "image_id": 7, "category_id": 2, "bbox": [-0.5, 60.25, 20, 20.5]}])"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->class_names, ElementsAre("cat", "dog"));  // sorted by category id
  ASSERT_EQ(data->images.size(), 2u);
  const DetectionImage& a = data->images[0];
  EXPECT_EQ(a.id, 7);
  EXPECT_EQ(a.path, root_ + "/a.jpg");
  EXPECT_EQ(a.width, 100);
  EXPECT_EQ(a.height, 80);
  // The third box reaches 0.5 px past the left and bottom edges: within the 1 px tolerance.
  EXPECT_THAT(a.boxes, ElementsAre(IsBox(10, 20, 40, 60, 1, false), IsBox(0.5f, 0, 100, 80, 0, true),
                                   IsBox(-0.5f, 60.25f, 19.5f, 80.75f, 0, false)));
  EXPECT_EQ(data->images[1].id, 3);
  EXPECT_TRUE(data->images[1].boxes.empty());
}

TEST_F(CocoJsonTest, AbsoluteFileNamesAndNoAnnotationsArray) {
  const absl::StatusOr<DetectionDataset> data = Read(absl::StrCat(
      R"({"images": [{"id": 1, "file_name": ")", root_, R"(/b.jpg", "width": 5, "height": 5}], "categories": []})"));
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->images.size(), 1u);
  EXPECT_EQ(data->images[0].path, root_ + "/b.jpg");
  EXPECT_TRUE(data->images[0].boxes.empty());
}

TEST_F(CocoJsonTest, RejectsBadFiles) {
  ExpectError("", "empty file");
  ExpectError("  \n", "empty file");
  ExpectError("{\"images\": [", "not JSON");
  ExpectError("[1, 2]", "expected a JSON object");
  ExpectError(R"({"images": []})", "no \"categories\" array");
  ExpectError(R"({"images": {}, "categories": []})", "\"images\" is not an array");
}

TEST_F(CocoJsonTest, RejectsBadAnnotations) {
  // 1.5 px past the right edge of the 100 px wide image.
  ExpectError(CocoJson(R"([{"id": 4, "image_id": 7, "category_id": 2, "bbox": [60, 0, 41.5, 10]}])"),
              "annotations[0] (id 4) in image 7 [60,0,41.5,10]: box (x1 60, y1 0, x2 101.5, y2 10) lies outside the "
              "100 x 80 image");
  ExpectError(CocoJson(R"([{"image_id": 7, "category_id": 2, "bbox": [0, -1.5, 5, 5]}])"), "outside the 100 x 80");
  ExpectError(CocoJson(R"([{"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 1, 2, 2]},
                           {"id": 9, "image_id": 7, "category_id": 2, "bbox": [10, 10, 0, 5]}])"),
              "annotations[1] (id 9): empty bbox [10,10,0,5]");
  ExpectError(CocoJson(R"([{"image_id": 7, "category_id": 2, "bbox": [10, 10, 5, -5]}])"), "empty bbox");
  ExpectError(CocoJson(R"([{"id": 5, "image_id": 99, "category_id": 2, "bbox": [1, 1, 2, 2]}])"),
              "annotations[0] (id 5): image_id 99 has no entry in \"images\"");
  ExpectError(CocoJson(R"([{"id": 6, "image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2]}])"),
              "annotations[0] (id 6): category_id 3 has no entry in \"categories\"");
  ExpectError(CocoJson(R"([{"image_id": 7, "category_id": 2, "bbox": [1, 1, 2]}])"), "\"bbox\" must be [x, y, w, h]");
  ExpectError(CocoJson(R"([{"image_id": 7, "category_id": 2}])"), "\"bbox\" must be [x, y, w, h], is missing");
  ExpectError(CocoJson(R"([{"image_id": 7, "bbox": [1, 1, 2, 2]}])"), "annotations[0]: no \"category_id\"");
  ExpectError(CocoJson(R"([{"image_id": "7", "category_id": 2, "bbox": [1, 1, 2, 2]}])"),
              "\"image_id\" is \"7\", not an integer");
  ExpectError(CocoJson(R"([{"image_id": 7, "category_id": 2, "bbox": [1, 1, 2, 2], "iscrowd": 2}])"),
              "\"iscrowd\" is 2, not 0 or 1");
}

TEST_F(CocoJsonTest, RejectsBadImagesAndCategories) {
  ExpectError(R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9},
                             {"id": 2, "file_name": "missing.jpg", "width": 9, "height": 9}], "categories": []})",
              "images[1] (id 2): image file " + root_ + "/missing.jpg does not exist");
  ExpectError(R"({"images": [{"id": 1, "width": 9, "height": 9}], "categories": []})",
              "images[0] (id 1): no \"file_name\"");
  ExpectError(R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 0, "height": 9}], "categories": []})",
              "images[0] (id 1): bad image size 0 x 9");
  ExpectError(R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9},
                             {"id": 1, "file_name": "b.jpg", "width": 9, "height": 9}], "categories": []})",
              "images[1] (id 1): duplicate image id 1");
  ExpectError(R"({"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})",
              "categories[1]: duplicate category id 1");
  ExpectError(R"({"images": [], "categories": [{"id": 1}]})", "categories[0]: no \"name\"");
}

TEST(CocoJsonParseTest, ParsesTextWithoutLookingForTheImages) {
  const absl::StatusOr<DetectionDataset> data =
      ParseCocoJson(CocoJson(R"([{"image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4]}])"), "mem.json", "nowhere");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->images.size(), 2u);
  EXPECT_EQ(data->images[0].path, "nowhere/a.jpg");
  EXPECT_THAT(data->images[1].boxes, ElementsAre(IsBox(1, 2, 4, 6, 0, false)));
  EXPECT_THAT(std::string(ParseCocoJson("[]", "mem.json", "").status().message()),
              HasSubstr("mem.json: expected a JSON object"));
}

// Masks are dropped as they are parsed (detection does not read them): polygons, RLE objects and
// any other value give the dataset the same file without them gives; a syntax error inside one is
// still an error.
TEST(CocoJsonParseTest, SegmentationsAreSkippedWhateverTheirShape) {
  const std::string plain = CocoJson(R"([{"image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4]},
                                         {"image_id": 7, "category_id": 5, "bbox": [5, 6, 7, 8], "iscrowd": 1}])");
  const std::string masked = CocoJson(R"([
      {"segmentation": [[1, 2, 3, 4.5, 5, 6]], "image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4]},
      {"image_id": 7, "segmentation": {"counts": [1, 2, 3], "size": [80, 100]}, "category_id": 5,
       "bbox": [5, 6, 7, 8], "iscrowd": 1, "extra": {"segmentation": "kept, not an annotation's"}}])");
  const absl::StatusOr<DetectionDataset> a = ParseCocoJson(plain, "plain.json", "");
  const absl::StatusOr<DetectionDataset> b = ParseCocoJson(masked, "masked.json", "");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->images.size(), b->images.size());
  for (size_t i = 0; i < a->images.size(); ++i) {
    ASSERT_EQ(a->images[i].boxes.size(), b->images[i].boxes.size()) << "image " << i;
    for (size_t k = 0; k < a->images[i].boxes.size(); ++k) {
      EXPECT_EQ(BoxText(a->images[i].boxes[k]), BoxText(b->images[i].boxes[k]));
    }
  }
  EXPECT_EQ(b->images[0].boxes.size(), 1u);
  for (const char* scalar : {"null", "\"x\"", "7", "[]", "[[]]", "{}"}) {
    const absl::StatusOr<DetectionDataset> c = ParseCocoJson(
        CocoJson(absl::StrCat(R"([{"segmentation": )", scalar, R"(, "image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4]}])")),
        "scalar.json", "");
    ASSERT_TRUE(c.ok()) << scalar << ": " << c.status();
    EXPECT_EQ(c->images[1].boxes.size(), 1u) << scalar;
  }
  const absl::StatusOr<DetectionDataset> broken =
      ParseCocoJson(CocoJson(R"([{"segmentation": [[1, 2,, 3]], "image_id": 3, "category_id": 2, "bbox": [1, 2, 3, 4]}])"),
                    "broken.json", "");
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("broken.json: not JSON"));
}

TEST_F(CocoJsonTest, MissingFileIsNotFound) {
  const absl::StatusOr<DetectionDataset> data = ReadCocoJson(root_ + "/nothing.json", root_);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(root_ + "/nothing.json"));
}

TEST_F(CocoJsonTest, WriteThenReadGivesTheSameDataset) {
  DetectionDataset data;
  data.class_names = {"cat", "dog", "bird"};
  data.images.push_back({12, root_ + "/a.jpg", 100, 80, {{10.25f, 20, 40, 60.5f, 2, false}, {0, 0, 100, 80, 0, true}}});
  data.images.push_back({4, root_ + "/b.jpg", 50, 50, {}});
  data.images.push_back({5, root_ + "/b.jpg", 50, 50, {{1.1f, 2.2f, 3.3f, 4.4f, 1, false}}});
  const std::string path = TempDir("coco") + "/written.json";
  ASSERT_TRUE(WriteCocoJson(data, path).ok());
  const absl::StatusOr<DetectionDataset> back = ReadCocoJson(path, "");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->class_names, data.class_names);
  ASSERT_EQ(back->images.size(), data.images.size());
  for (size_t i = 0; i < data.images.size(); ++i) {
    const DetectionImage& want = data.images[i];
    const DetectionImage& got = back->images[i];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.path, want.path);
    EXPECT_EQ(got.width, want.width);
    EXPECT_EQ(got.height, want.height);
    ASSERT_EQ(got.boxes.size(), want.boxes.size());
    for (size_t b = 0; b < want.boxes.size(); ++b) {
      const GroundTruthBox& w = want.boxes[b];
      EXPECT_THAT(got.boxes[b], IsBox(w.x1, w.y1, w.x2, w.y2, w.label, w.crowd)) << "image " << want.id;
    }
  }
  DetectionDataset bad = data;
  bad.images[0].boxes[0].label = 3;
  EXPECT_THAT(std::string(WriteCocoJson(bad, path).message()), HasSubstr("image 12 box 0: label 3"));
}

// ---- PASCAL VOC ----

std::string VocObject(const std::string& name, const std::string& box, const std::string& extra = "") {
  return absl::StrCat("<object><name>", name, "</name><pose>Left</pose>", extra, "<bndbox>", box, "</bndbox></object>");
}

std::string VocBox(int xmin, int ymin, int xmax, int ymax) {
  return absl::StrCat("<xmin>", xmin, "</xmin><ymin>", ymin, "</ymin><xmax>", xmax, "</xmax><ymax>", ymax, "</ymax>");
}

std::string VocXml(const std::string& objects, int width = 353, int height = 500) {
  return absl::StrCat("<annotation><folder>VOC2007</folder><filename>x.jpg</filename><size><width>", width,
                      "</width><height>", height, "</height><depth>3</depth></size><segmented>0</segmented>", objects,
                      "</annotation>");
}

// A VOC tree under $TEST_TMPDIR/`name` with split "test" listing `xmls`' names; every image exists.
std::string MakeVoc(const std::string& name, const std::vector<std::pair<std::string, std::string>>& xmls) {
  const std::string root = TempDir(name);
  std::string split;
  for (const auto& [id, xml] : xmls) {
    WriteFile(absl::StrCat(root, "/Annotations/", id, ".xml"), xml);
    WriteFile(absl::StrCat(root, "/JPEGImages/", id, ".jpg"), "");
    absl::StrAppend(&split, id, "\n");
  }
  WriteFile(root + "/ImageSets/Main/test.txt", split);
  return root;
}

TEST(VocTest, ClassNamesAreTheStandardTwenty) {
  EXPECT_THAT(VocClassNames(), ElementsAre("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
                                           "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
                                           "pottedplant", "sheep", "sofa", "train", "tvmonitor"));
}

TEST(VocTest, ReadsBoxesOneBasedInclusiveAndDifficultAsCrowd) {
  // 000001 is VOC2007's first test image: a dog and a (non-difficult) person; a difficult person, an
  // object without <difficult> and one with a <part> (its own bndbox must not be taken) are added.
  const std::string part = "<part><name>head</name><bndbox>" + VocBox(1, 1, 2, 2) + "</bndbox></part>";
  const std::string root = MakeVoc(
      "voc_ok",
      {{"000001", VocXml(VocObject("dog", VocBox(48, 240, 195, 371), "<difficult>0</difficult>") +
                         VocObject("person", VocBox(8, 12, 352, 498), "<difficult>0</difficult>") +
                         VocObject("person", VocBox(1, 1, 353, 500), "<difficult>1</difficult>") +
                         VocObject("  aeroplane ", "<xmin>10.5</xmin><ymin>11</ymin><xmax>20</xmax><ymax>30</ymax>") +
                         VocObject("person", VocBox(100, 100, 200, 200), part + "<difficult>0</difficult>"))},
       {"2008_000002", VocXml("", 640, 480)}});
  const absl::StatusOr<DetectionDataset> data = ReadVoc(root, "test");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->class_names, VocClassNames());
  ASSERT_EQ(data->images.size(), 2u);
  const DetectionImage& first = data->images[0];
  EXPECT_EQ(first.id, 1);
  EXPECT_EQ(first.path, root + "/JPEGImages/000001.jpg");
  EXPECT_EQ(first.width, 353);
  EXPECT_EQ(first.height, 500);
  EXPECT_THAT(first.boxes, ElementsAre(IsBox(47, 239, 195, 371, 11, false), IsBox(7, 11, 352, 498, 14, false),
                                       IsBox(0, 0, 353, 500, 14, true), IsBox(9.5f, 10, 20, 30, 0, false),
                                       IsBox(99, 99, 200, 200, 14, false)));
  EXPECT_EQ(data->images[1].id, 2);
  EXPECT_EQ(data->images[1].path, root + "/JPEGImages/2008_000002.jpg");
  EXPECT_EQ(data->images[1].width, 640);
  EXPECT_TRUE(data->images[1].boxes.empty());
}

// Expects the one-image VOC tree with this XML to fail naming the XML file and containing `what`.
void ExpectVocError(const std::string& name, const std::string& xml, const std::string& what) {
  const std::string root = MakeVoc(name, {{"000009", xml}});
  const absl::StatusOr<DetectionDataset> data = ReadVoc(root, "test");
  ASSERT_FALSE(data.ok()) << name;
  EXPECT_THAT(std::string(data.status().message()), AllOf(HasSubstr(root + "/Annotations/000009.xml"), HasSubstr(what)))
      << name;
}

TEST(VocTest, RejectsBadXml) {
  const std::string dog = VocObject("dog", VocBox(48, 240, 195, 371));
  ExpectVocError("voc_no_xmax", VocXml(dog + VocObject("cat", "<xmin>1</xmin><ymin>1</ymin><ymax>5</ymax>")),
                 "object 1 ('cat') <bndbox> has no <xmax>");
  ExpectVocError("voc_no_bndbox", VocXml("<object><name>cat</name></object>"), "object 0 ('cat') has no <bndbox>");
  ExpectVocError("voc_no_name", VocXml("<object><bndbox>" + VocBox(1, 1, 5, 5) + "</bndbox></object>"),
                 "object 0 has no <name>");
  ExpectVocError("voc_no_size", "<annotation>" + dog + "</annotation>", "<annotation> has no <size>");
  ExpectVocError("voc_no_height", "<annotation><size><width>5</width></size></annotation>", "<size> has no <height>");
  ExpectVocError("voc_class", VocXml(VocObject("unicorn", VocBox(1, 1, 5, 5))),
                 "object 0 ('unicorn'): not a VOC class");
  ExpectVocError("voc_number", VocXml(VocObject("cat", "<xmin>1</xmin><ymin>1</ymin><xmax>5px</xmax><ymax>5</ymax>")),
                 "<xmax> is '5px', not a number");
  ExpectVocError("voc_outside", VocXml(VocObject("cat", VocBox(1, 1, 355, 5))),
                 "object 0 ('cat'): box (x1 0, y1 0, x2 355, y2 5) lies outside the 353 x 500 image");
  ExpectVocError("voc_empty", VocXml(VocObject("cat", VocBox(10, 1, 9, 5))), "object 0 ('cat'): empty box");
  ExpectVocError("voc_difficult", VocXml(VocObject("cat", VocBox(1, 1, 5, 5), "<difficult>2</difficult>")),
                 "<difficult> is 2");
  ExpectVocError("voc_not_xml", "<annotation><size>", "not XML");
}

TEST(VocTest, ParsesOneAnnotationFromText) {
  const absl::StatusOr<DetectionImage> image =
      ParseVocAnnotation(VocXml(VocObject("dog", VocBox(48, 240, 195, 371))), "mem.xml");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 353);
  EXPECT_EQ(image->height, 500);
  EXPECT_THAT(image->boxes, ElementsAre(IsBox(47, 239, 195, 371, 11, false)));
  EXPECT_THAT(std::string(ParseVocAnnotation("", "mem.xml").status().message()), HasSubstr("mem.xml: not XML"));
}

TEST(VocTest, RejectsMissingFiles) {
  const std::string root = MakeVoc("voc_missing", {{"000009", VocXml("")}});
  fs::remove(root + "/JPEGImages/000009.jpg");
  absl::StatusOr<DetectionDataset> data = ReadVoc(root, "test");
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(root + "/JPEGImages/000009.jpg does not exist"));

  WriteFile(root + "/ImageSets/Main/val.txt", "000009\n000010\n");
  WriteFile(root + "/JPEGImages/000009.jpg", "");
  data = ReadVoc(root, "val");
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(root + "/Annotations/000010.xml: no such file"));

  data = ReadVoc(root, "trainval");
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(root + "/ImageSets/Main/trainval.txt"));
}

// ---- Penn-Fudan (real data) ----

TEST(PennFudanDetectionTest, ReadsTheFixedSplit) {
  const std::string root = DataPath("pennfudan/PennFudanPed");
  ASSERT_TRUE(fs::exists(root + "/Annotation")) << root << " is missing: run tools/setup.sh";
  const absl::StatusOr<DetectionDataset> train = ReadPennFudanDetection(root, PennFudanSplit::kTrain);
  const absl::StatusOr<DetectionDataset> test = ReadPennFudanDetection(root, PennFudanSplit::kTest);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_THAT(train->class_names, ElementsAre("person"));
  EXPECT_THAT(test->class_names, ElementsAre("person"));
  ASSERT_EQ(train->images.size(), 120u);
  ASSERT_EQ(test->images.size(), 50u);
  size_t boxes = 0;
  for (const DetectionDataset* data : {&*train, &*test}) {
    for (size_t i = 0; i < data->images.size(); ++i) {
      const DetectionImage& image = data->images[i];
      EXPECT_EQ(image.id, static_cast<int64_t>(i) + 1);
      EXPECT_TRUE(fs::exists(image.path)) << image.path;
      EXPECT_FALSE(image.boxes.empty()) << image.path;
      for (const GroundTruthBox& box : image.boxes) {
        EXPECT_EQ(box.label, 0);
        EXPECT_FALSE(box.crowd);
        EXPECT_TRUE(box.x1 >= 0 && box.y1 >= 0 && box.x2 <= image.width && box.y2 <= image.height && box.x1 < box.x2 &&
                    box.y1 < box.y2)
            << image.path << " " << BoxText(box);
      }
      boxes += image.boxes.size();
    }
  }
  EXPECT_EQ(boxes, 423u);  // the dataset's 423 pedestrians
  // FudanPed00001: (160, 182) - (302, 431) and (420, 171) - (535, 486), 1-based inclusive.
  const DetectionImage& first = train->images[0];
  EXPECT_EQ(first.path, root + "/PNGImages/FudanPed00001.png");
  EXPECT_EQ(first.width, 559);
  EXPECT_EQ(first.height, 536);
  EXPECT_THAT(first.boxes, ElementsAre(IsBox(159, 181, 302, 431, 0, false), IsBox(419, 170, 535, 486, 0, false)));
}

TEST(PennFudanDetectionTest, MissingRootIsAnError) {
  const absl::StatusOr<DetectionDataset> data = ReadPennFudanDetection(TempDir("no_pennfudan"), PennFudanSplit::kAll);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace moco
