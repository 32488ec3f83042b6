#include "moco/data/image_folder.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/paths.h"
#include "moco/data/decode.h"
#include "moco/data/test_data.h"

namespace moco {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kCifarClasses = {"airplane", "automobile", "bird",  "cat",
                                                "deer",     "dog",        "frog",  "horse",
                                                "ship",     "truck"};

class CifarFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(DataPresent(train_));
    ASSERT_TRUE(DataPresent(test_));
  }
  const std::string train_ = DataPath("cifar10-jpeg/train");
  const std::string test_ = DataPath("cifar10-jpeg/test");
};

std::vector<int> PerClass(const std::vector<int>& labels, int num_classes) {
  std::vector<int> counts(num_classes, 0);
  for (int label : labels) ++counts.at(label);
  return counts;
}

TEST_F(CifarFolderTest, DecodesAllOfTrain) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LabeledImages> train = ReadImageFolder(train_);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(train.ok()) << train.status();
  RecordProperty("decode_seconds", std::to_string(seconds));
  std::cout << "decoded " << train->size() << " images in " << seconds << " s\n";

  EXPECT_EQ(train->size(), 50000);
  EXPECT_EQ(train->height, 32);
  EXPECT_EQ(train->width, 32);
  EXPECT_EQ(train->channels, 3);
  EXPECT_EQ(train->pixels.size(), 50000u * 32 * 32 * 3);
  EXPECT_EQ(train->class_names, kCifarClasses);
  EXPECT_THAT(PerClass(train->labels, 10), ::testing::Each(5000));
  EXPECT_TRUE(std::is_sorted(train->labels.begin(), train->labels.end()));
  // airplane/0000.jpg, whose pixel sum PIL gives as 456420; and the last image is
  // truck/4999.jpg decoded on its own.
  const uint8_t* first = train->image_data(0);
  EXPECT_EQ(std::accumulate(first, first + 3072, int64_t{0}), 456420);
  absl::StatusOr<Image> last = ReadImage(train_ + "/truck/4999.jpg");
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(std::equal(last->pixels.begin(), last->pixels.end(), train->image_data(49999)));
}

TEST_F(CifarFolderTest, ListsAllOfTest) {
  absl::StatusOr<ImageFolderIndex> test = ListImageFolder(test_);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->paths.size(), 10000u);
  EXPECT_EQ(test->class_names, kCifarClasses);
  EXPECT_THAT(PerClass(test->labels, 10), ::testing::Each(1000));
  EXPECT_EQ(test->paths[0], test_ + "/airplane/0000.jpg");
  EXPECT_EQ(test->paths[1], test_ + "/airplane/0001.jpg");
  EXPECT_EQ(test->paths.back(), test_ + "/truck/0999.jpg");
}

TEST_F(CifarFolderTest, MaxImagesTakesClassesInTurn) {
  // 25 = 2 rounds over 10 classes + 5: the first five classes get a third file.
  absl::StatusOr<ImageFolderIndex> index = ListImageFolder(test_, 25);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_THAT(PerClass(index->labels, 10), ElementsAre(3, 3, 3, 3, 3, 2, 2, 2, 2, 2));
  EXPECT_EQ(index->paths[0], test_ + "/airplane/0000.jpg");
  EXPECT_EQ(index->paths[2], test_ + "/airplane/0002.jpg");
  EXPECT_EQ(index->paths[3], test_ + "/automobile/0000.jpg");
  EXPECT_EQ(index->paths.back(), test_ + "/truck/0001.jpg");
  EXPECT_EQ(index->class_names.size(), 10u);  // all classes keep their labels

  ImageFolderOptions options;
  options.max_images = 25;
  absl::StatusOr<LabeledImages> images = ReadImageFolder(test_, options);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->labels, index->labels);
}

TEST_F(CifarFolderTest, ResultDoesNotDependOnThreadCount) {
  ImageFolderOptions one_thread;
  one_thread.max_images = 1000;
  one_thread.threads = 1;
  ImageFolderOptions five_threads = one_thread;
  five_threads.threads = 5;
  absl::StatusOr<LabeledImages> a = ReadImageFolder(test_, one_thread);
  absl::StatusOr<LabeledImages> b = ReadImageFolder(test_, five_threads);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->size(), 1000);
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_TRUE(a->pixels == b->pixels);
}

// --- Synthetic folders, built from real CIFAR-10 and Penn-Fudan files ----------------------

std::string RealBytes(const std::string& relative) {
  const std::string path = DataPath(relative);
  EXPECT_TRUE(DataPresent(path));
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string Jpeg(int i) {
  return RealBytes("cifar10-jpeg/test/cat/000" + std::to_string(i) + ".jpg");
}

TEST(ImageFolderTest, FiltersAndSortsFiles) {
  const std::string root = TempDir("mixed_names");
  TempDir("mixed_names/b");
  TempDir("mixed_names/a/nested");  // sub-folders of a class are ignored
  TempDir("mixed_names/.hidden");   // and so are hidden folders at the class level
  ASSERT_TRUE(WriteFile(root + "/b/2.JPG", Jpeg(0)).ok());
  ASSERT_TRUE(WriteFile(root + "/b/1.jpeg", Jpeg(1)).ok());
  ASSERT_TRUE(WriteFile(root + "/a/x.Jpg", Jpeg(2)).ok());
  ASSERT_TRUE(WriteFile(root + "/a/notes.txt", "not an image").ok());
  ASSERT_TRUE(WriteFile(root + "/a/nested/y.jpg", Jpeg(3)).ok());
  ASSERT_TRUE(WriteFile(root + "/.hidden/z.jpg", Jpeg(4)).ok());
  ASSERT_TRUE(WriteFile(root + "/readme.txt", "files in root are ignored").ok());

  absl::StatusOr<ImageFolderIndex> index = ListImageFolder(root);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_THAT(index->class_names, ElementsAre("a", "b"));
  EXPECT_THAT(index->paths, ElementsAre(root + "/a/x.Jpg", root + "/b/1.jpeg", root + "/b/2.JPG"));
  EXPECT_THAT(index->labels, ElementsAre(0, 1, 1));
}

TEST(ImageFolderTest, MissingRootIsNotFoundNamingIt) {
  const std::string root = TempPath("no_such_root");
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(images.status().message(), HasSubstr(root));
}

TEST(ImageFolderTest, RootWithNeitherClassFoldersNorImagesIsAnError) {
  const std::string root = TempDir("bare");
  ASSERT_TRUE(WriteFile(root + "/notes.txt", "no images").ok());
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(images.status().message(), HasSubstr(root + ": no class folders"));
}

// A folder of photos without class folders is one unlabeled set, its files by name.
TEST(ImageFolderTest, ImagesWithoutClassFoldersAreOneUnlabeledSet) {
  const std::string root = TempDir("flat");
  for (int i : {2, 0, 1}) ASSERT_TRUE(WriteFile(root + "/" + std::to_string(i) + ".jpg", Jpeg(i)).ok());
  absl::StatusOr<ImageFolderIndex> index = ListImageFolder(root, 2);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_FALSE(index->labeled);
  EXPECT_THAT(index->paths, ElementsAre(root + "/0.jpg", root + "/1.jpg"));
  EXPECT_THAT(index->labels, ElementsAre(0, 0));
  ImageFolderOptions options;
  options.cache = ImageCache::kAuto;
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root, options);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_FALSE(images->labeled);
  EXPECT_EQ(images->size(), 3);
  // A class list needs class folders.
  EXPECT_THAT(ListImageFolder(root, 0, {"cat"}).status().message(), HasSubstr("class_list needs class folders"));
}

TEST(ImageFolderTest, EmptyClassFolderIsAnErrorNamingIt) {
  const std::string root = TempDir("empty_class");
  TempDir("empty_class/a");
  TempDir("empty_class/b");
  ASSERT_TRUE(WriteFile(root + "/a/0.jpg", Jpeg(0)).ok());
  ASSERT_TRUE(WriteFile(root + "/b/notes.txt", "no images here").ok());
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(images.status().message(), HasSubstr(root + "/b: class folder holds no"));
}

TEST(ImageFolderTest, CorruptImageIsAnErrorNamingItWhateverTheThreads) {
  const std::string root = TempDir("corrupt");
  TempDir("corrupt/a");
  TempDir("corrupt/b");
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(WriteFile(root + "/a/" + std::to_string(i) + ".jpg", Jpeg(i)).ok());
    ASSERT_TRUE(WriteFile(root + "/b/" + std::to_string(i) + ".jpg", Jpeg(i)).ok());
  }
  // Two bad files: the one first in listing order is reported.
  const std::string first_bad = root + "/a/3.jpg";
  ASSERT_TRUE(WriteFile(first_bad, Jpeg(3).substr(0, 300)).ok());
  ASSERT_TRUE(WriteFile(root + "/b/1.jpg", "garbage").ok());
  for (int threads : {1, 2, 7}) {
    ImageFolderOptions options;
    options.threads = threads;
    absl::StatusOr<LabeledImages> images = ReadImageFolder(root, options);
    ASSERT_FALSE(images.ok());
    EXPECT_THAT(images.status().message(), HasSubstr(first_bad + ": corrupt JPEG"))
        << "threads=" << threads;
  }
}

// A file that is listed but gone when it is read (here a link whose target was deleted, as on
// a dataset folder of links into storage that lost a file) is an error naming it.
TEST(ImageFolderTest, AVanishedImageIsAnErrorNamingIt) {
  const std::string root = TempDir("vanished");
  TempDir("vanished/a");
  ASSERT_TRUE(WriteFile(root + "/a/0.jpg", Jpeg(0)).ok());
  ASSERT_TRUE(WriteFile(root + "/gone.jpg", Jpeg(1)).ok());
  std::filesystem::create_symlink(root + "/gone.jpg", root + "/a/1.jpg");
  std::filesystem::remove(root + "/gone.jpg");
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(images.status().message(), HasSubstr(root + "/a/1.jpg: no such file"));
}

TEST(ImageFolderTest, ImagesOfAnotherSizeAreAnErrorNamingThem) {
  const std::string root = TempDir("sizes");
  TempDir("sizes/a");
  ASSERT_TRUE(WriteFile(root + "/a/0.jpg", Jpeg(0)).ok());
  ASSERT_TRUE(
      WriteFile(root + "/a/1.png", RealBytes("pennfudan/PennFudanPed/PNGImages/FudanPed00001.png"))
          .ok());
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root);
  ASSERT_FALSE(images.ok());
  EXPECT_THAT(images.status().message(),
              HasSubstr(root + "/a/1.png: image is 536 x 559 x 3 but " + root + "/a/0.jpg is 32"));
}

TEST(ImageFolderTest, NegativeOptionsAreRejected) {
  ImageFolderOptions options;
  options.threads = -1;
  EXPECT_EQ(ReadImageFolder("/tmp", options).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListImageFolder("/tmp", -5).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Streaming: images of any size, listed once and decoded when needed ----------------------

// Three classes of real files of every kind: CIFAR JPEGs (32 px), Penn-Fudan PNGs (253-1017 px).
std::string MixedFolder(const std::string& name) {
  const std::string root = TempDir(name);
  for (const char* c : {"a", "b", "c"}) TempDir(name + "/" + c);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WriteFile(root + "/a/" + std::to_string(i) + ".jpg", Jpeg(i)).ok());
    EXPECT_TRUE(WriteFile(root + "/c/" + std::to_string(i) + ".jpg", Jpeg(i + 3)).ok());
  }
  EXPECT_TRUE(
      WriteFile(root + "/b/0.png", RealBytes("pennfudan/PennFudanPed/PNGImages/FudanPed00001.png")).ok());
  EXPECT_TRUE(
      WriteFile(root + "/b/1.png", RealBytes("pennfudan/PennFudanPed/PNGImages/FudanPed00002.png")).ok());
  return root;
}

TEST(ImageFolderTest, StreamedImagesDecodeWhenLoadedAtTheirOwnSize) {
  const std::string root = MixedFolder("stream");
  ImageFolderOptions options;
  options.cache = ImageCache::kStream;
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root, options);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_TRUE(images->streamed());
  EXPECT_TRUE(images->pixels.empty());
  EXPECT_EQ(images->size(), 8);
  EXPECT_THAT(images->labels, ElementsAre(0, 0, 0, 1, 1, 2, 2, 2));
  EXPECT_EQ(images->files[3], root + "/b/0.png");
  Image scratch;
  absl::StatusOr<ImageRef> png = LoadImage(*images, 3, &scratch);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->height, 536);
  EXPECT_EQ(png->width, 559);
  absl::StatusOr<Image> direct = ReadImage(root + "/b/0.png");
  ASSERT_TRUE(direct.ok());
  EXPECT_TRUE(std::equal(direct->pixels.begin(), direct->pixels.end(), png->pixels));
}

// AUTO keeps a same-size set in memory and streams a mixed one; IN_MEMORY refuses a mixed one.
TEST(ImageFolderTest, AutoStreamsMixedSizesAndKeepsOneSizeInMemory) {
  const std::string root = MixedFolder("auto");
  ImageFolderOptions options;
  options.cache = ImageCache::kAuto;
  absl::StatusOr<LabeledImages> mixed = ReadImageFolder(root, options);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_TRUE(mixed->streamed());
  options.classes = {"a", "c"};  // the CIFAR files only: one size
  absl::StatusOr<LabeledImages> same = ReadImageFolder(root, options);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->streamed());
  EXPECT_EQ(same->height, 32);
  EXPECT_THAT(same->class_names, ElementsAre("a", "c"));
  EXPECT_THAT(same->labels, ElementsAre(0, 0, 0, 1, 1, 1));
  options.classes.clear();
  options.cache = ImageCache::kInMemory;
  EXPECT_THAT(ReadImageFolder(root, options).status().message(), HasSubstr("use STREAM or AUTO"));
}

TEST(ImageFolderTest, AClassListKeepsItsClassesAndNamesOneWithoutAFolder) {
  const std::string root = MixedFolder("class_list");
  absl::StatusOr<ImageFolderIndex> index = ListImageFolder(root, 0, {"c", "b"});
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_THAT(index->class_names, ElementsAre("b", "c"));  // sorted, labels by that order
  EXPECT_THAT(index->labels, ElementsAre(0, 0, 1, 1, 1));
  absl::StatusOr<ImageFolderIndex> missing = ListImageFolder(root, 0, {"a", "n01440764"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no folder for class 'n01440764'"));

  const std::string list = TempPath("class_list/classes.txt");
  ASSERT_TRUE(WriteFile(list, "# two classes\nc\n\n  b  # the PNGs\n").ok());
  absl::StatusOr<std::vector<std::string>> classes = ReadClassList(list);
  ASSERT_TRUE(classes.ok()) << classes.status();
  EXPECT_THAT(*classes, ElementsAre("c", "b"));
  ASSERT_TRUE(WriteFile(list, "a\nn01/x\n").ok());
  EXPECT_THAT(ReadClassList(list).status().message(), HasSubstr(list + ":2: 'n01/x' is not a class folder name"));
  EXPECT_EQ(ReadClassList(TempPath("class_list/none.txt")).status().code(), absl::StatusCode::kNotFound);
}

// A truncated and a zero-byte file: streamed, they stop the run naming the file; with
// skip_bad_images the next good image of the class takes their place, every time the same,
// and both are listed.
TEST(ImageFolderTest, BadStreamedImagesStopNamingTheFileOrAreSkippedAndListed) {
  const std::string root = MixedFolder("bad_stream");
  ASSERT_TRUE(WriteFile(root + "/a/1.jpg", Jpeg(1).substr(0, 300)).ok());  // truncated
  ASSERT_TRUE(WriteFile(root + "/c/0.jpg", "").ok());                      // zero bytes
  ImageFolderOptions options;
  options.cache = ImageCache::kStream;
  absl::StatusOr<LabeledImages> images = ReadImageFolder(root, options);
  ASSERT_TRUE(images.ok()) << images.status();
  Image scratch;
  absl::StatusOr<ImageRef> truncated = LoadImage(*images, 1, &scratch);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr(root + "/a/1.jpg"));
  EXPECT_THAT(truncated.status().message(), HasSubstr("on_bad_image SKIP"));
  absl::StatusOr<ImageRef> empty = LoadImage(*images, 5, &scratch);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr(root + "/c/0.jpg"));

  images->skip_bad_images = true;
  for (int repeat = 0; repeat < 2; ++repeat) {
    absl::StatusOr<ImageRef> replaced = LoadImage(*images, 1, &scratch);
    ASSERT_TRUE(replaced.ok()) << replaced.status();
    absl::StatusOr<Image> next_in_class = ReadImage(root + "/a/2.jpg");
    ASSERT_TRUE(next_in_class.ok());
    EXPECT_TRUE(std::equal(next_in_class->pixels.begin(), next_in_class->pixels.end(), replaced->pixels));
  }
  ASSERT_TRUE(LoadImage(*images, 5, &scratch).ok());
  EXPECT_THAT(images->skipped->Paths(), ElementsAre(root + "/a/1.jpg", root + "/c/0.jpg"));
  // AUTO with skipping streams a set with a bad file instead of failing up front.
  options.cache = ImageCache::kAuto;
  options.skip_bad_images = true;
  options.classes = {"a", "c"};
  absl::StatusOr<LabeledImages> automatic = ReadImageFolder(root, options);
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_TRUE(automatic->streamed());
}

// ImageNet-100 as CMC defines it: 100 distinct, well-formed WordNet ids.
TEST(ImageFolderTest, TheImageNet100ClassListHoldsOneHundredWnids) {
  absl::StatusOr<std::vector<std::string>> classes = ReadClassList("configs/imagenet100_classes.txt");
  ASSERT_TRUE(classes.ok()) << classes.status();
  EXPECT_EQ(classes->size(), 100u);
  EXPECT_EQ(std::set<std::string>(classes->begin(), classes->end()).size(), 100u);
  for (const std::string& wnid : *classes) {
    EXPECT_TRUE(wnid.size() == 9 && wnid[0] == 'n' &&
                std::all_of(wnid.begin() + 1, wnid.end(), [](char c) { return c >= '0' && c <= '9'; }))
        << wnid;
  }
  // Each is one of the ImageNet-1k classes of the sample (one image each).
  ASSERT_TRUE(DataPresent(DataPath("imagenet-sample/train")));
  absl::StatusOr<ImageFolderIndex> index = ListImageFolder(DataPath("imagenet-sample/train"), 0, *classes);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->paths.size(), 100u);
}

}  // namespace
}  // namespace moco
