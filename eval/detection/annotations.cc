#include "eval/detection/annotations.h"

#include <tinyxml2.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "moco/common/status.h"

namespace moco {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// How far (pixels) a box may reach outside its image: annotation tools round corners.
constexpr double kOutsideTolerance = 1.0;

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::UnavailableError(absl::StrCat(path, ": cannot read"));
  return text.str();
}

bool FileExists(const std::string& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

std::string BoxString(const GroundTruthBox& box) {
  return absl::StrFormat("(x1 %g, y1 %g, x2 %g, y2 %g)", box.x1, box.y1, box.x2, box.y2);
}

// A box must be non-empty, finite and inside its width x height image (give or take the tolerance).
absl::Status CheckBox(const GroundTruthBox& box, int width, int height, const std::string& where) {
  if (!std::isfinite(box.x1) || !std::isfinite(box.y1) || !std::isfinite(box.x2) || !std::isfinite(box.y2)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": box ", BoxString(box), " is not finite"));
  }
  if (!(box.x2 > box.x1) || !(box.y2 > box.y1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": empty box ", BoxString(box), " (needs x2 > x1 and y2 > y1)"));
  }
  if (box.x1 < -kOutsideTolerance || box.y1 < -kOutsideTolerance || box.x2 > width + kOutsideTolerance ||
      box.y2 > height + kOutsideTolerance) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": box ", BoxString(box), " lies outside the ", width, " x ", height, " image"));
  }
  return absl::OkStatus();
}

// ---- COCO JSON ----

// The member `key` of `object`, which must be an integer (an integral floating value is accepted).
absl::StatusOr<int64_t> IntMember(const Json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::InvalidArgumentError(absl::StrCat(where, ": no \"", key, "\""));
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double value = it->get<double>();
    if (std::isfinite(value) && value == std::floor(value) && std::abs(value) < 9e15) {
      return static_cast<int64_t>(value);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" is ", it->dump(), ", not an integer"));
}

absl::StatusOr<std::string> StringMember(const Json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::InvalidArgumentError(absl::StrCat(where, ": no \"", key, "\""));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" is ", it->dump(), ", not a string"));
  }
  return it->get<std::string>();
}

// root[key] as an array; `required` false lets a missing key mean an empty array.
absl::StatusOr<const Json*> ArrayMember(const Json& root, const char* key, bool required, const std::string& path) {
  static const Json* const kEmpty = new Json(Json::array());
  const auto it = root.find(key);
  if (it == root.end()) {
    if (!required) return kEmpty;
    return absl::InvalidArgumentError(absl::StrCat(path, ": no \"", key, "\" array"));
  }
  if (!it->is_array()) return absl::InvalidArgumentError(absl::StrCat(path, ": \"", key, "\" is not an array"));
  return &*it;
}

std::string JoinPath(const std::string& root, const std::string& name) {
  if (root.empty()) return name;
  return (fs::path(root) / name).string();
}

}  // namespace

const std::vector<std::string>& VocClassNames() {
  static const std::vector<std::string>* const kNames = new std::vector<std::string>{
      "aeroplane",   "bicycle", "bird",  "boat",      "bottle", "bus",         "car",   "cat",  "chair", "cow",
      "diningtable", "dog",     "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};
  return *kNames;
}

namespace {

// nlohmann's SAX events into a document, but for each annotation's "segmentation" (its masks: most
// of a COCO file's bytes, which detection does not read), dropped as it is parsed: a COCO-size file
// then holds about half the memory (benchmarks/annotation_memory).
class WithoutSegmentations {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit WithoutSegmentations(Json& root) : dom_(root) {}

  bool null() { return skipping_ ? DropScalar() : dom_.null(); }
  bool boolean(bool value) { return skipping_ ? DropScalar() : dom_.boolean(value); }
  bool number_integer(number_integer_t value) { return skipping_ ? DropScalar() : dom_.number_integer(value); }
  bool number_unsigned(number_unsigned_t value) { return skipping_ ? DropScalar() : dom_.number_unsigned(value); }
  bool number_float(number_float_t value, const string_t& text) {
    return skipping_ ? DropScalar() : dom_.number_float(value, text);
  }
  bool string(string_t& value) { return skipping_ ? DropScalar() : dom_.string(value); }
  bool binary(binary_t& value) { return skipping_ ? DropScalar() : dom_.binary(value); }
  bool start_object(std::size_t size) { return skipping_ ? Open() : (++depth_, dom_.start_object(size)); }
  bool end_object() { return skipping_ ? Close() : (--depth_, dom_.end_object()); }
  bool start_array(std::size_t size) { return skipping_ ? Open() : (++depth_, dom_.start_array(size)); }
  bool end_array() { return skipping_ ? Close() : (--depth_, dom_.end_array()); }
  bool key(string_t& name) {
    if (skipping_) return true;
    // Depth 3: a member of an object in a top-level array (an annotation).
    if (depth_ == 3 && name == "segmentation") {
      skipping_ = true;
      nesting_ = 0;
      return true;
    }
    return dom_.key(name);
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& error) {
    return dom_.parse_error(position, token, error);
  }

 private:
  bool DropScalar() {
    if (nesting_ == 0) skipping_ = false;  // the segmentation was this scalar
    return true;
  }
  bool Open() {
    ++nesting_;
    return true;
  }
  bool Close() {
    if (--nesting_ == 0) skipping_ = false;
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int depth_ = 0;          // open objects and arrays kept
  bool skipping_ = false;  // inside a "segmentation" value
  int nesting_ = 0;        // its open objects and arrays
};

// "categories": class names in increasing category id; returns category id -> label.
absl::StatusOr<std::unordered_map<int64_t, int>> ParseCocoCategories(const Json& categories,
                                                                     const std::string& json_path,
                                                                     DetectionDataset* data) {
  std::map<int64_t, std::string> category_names;  // sorted by id
  for (size_t i = 0; i < categories.size(); ++i) {
    const Json& category = categories[i];
    const std::string where = absl::StrCat(json_path, ": categories[", i, "]");
    if (!category.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    MOCO_ASSIGN_OR_RETURN(const int64_t id, IntMember(category, "id", where));
    MOCO_ASSIGN_OR_RETURN(std::string name, StringMember(category, "name", where));
    if (!category_names.emplace(id, std::move(name)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate category id ", id));
    }
  }
  std::unordered_map<int64_t, int> label_of_category;
  for (const auto& [id, name] : category_names) {
    label_of_category[id] = static_cast<int>(data->class_names.size());
    data->class_names.push_back(name);
    data->category_ids.push_back(id);
  }
  return label_of_category;
}

// "images": one DetectionImage each, in order; returns image id -> index.
absl::StatusOr<std::unordered_map<int64_t, size_t>> ParseCocoImages(const Json& images, const std::string& json_path,
                                                                    const std::string& image_root,
                                                                    DetectionDataset* data) {
  std::unordered_map<int64_t, size_t> index_of_image;
  data->images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const Json& entry = images[i];
    std::string where = absl::StrCat(json_path, ": images[", i, "]");
    if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    DetectionImage image;
    MOCO_ASSIGN_OR_RETURN(image.id, IntMember(entry, "id", where));
    absl::StrAppend(&where, " (id ", image.id, ")");
    MOCO_ASSIGN_OR_RETURN(const std::string file_name, StringMember(entry, "file_name", where));
    MOCO_ASSIGN_OR_RETURN(const int64_t width, IntMember(entry, "width", where));
    MOCO_ASSIGN_OR_RETURN(const int64_t height, IntMember(entry, "height", where));
    if (width <= 0 || height <= 0 || width > (1 << 30) || height > (1 << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": bad image size ", width, " x ", height));
    }
    image.width = static_cast<int>(width);
    image.height = static_cast<int>(height);
    image.path = JoinPath(image_root, file_name);
    if (!index_of_image.emplace(image.id, data->images.size()).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate image id ", image.id));
    }
    data->images.push_back(std::move(image));
  }
  return index_of_image;
}

// "annotations"[i]: its box, added to its image.
absl::Status ParseCocoAnnotation(const Json& entry, size_t i, const std::string& json_path,
                                 const std::unordered_map<int64_t, int>& label_of_category,
                                 const std::unordered_map<int64_t, size_t>& index_of_image, DetectionDataset* data) {
  std::string where = absl::StrCat(json_path, ": annotations[", i, "]");
  if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
  if (entry.contains("id")) {
    MOCO_ASSIGN_OR_RETURN(const int64_t id, IntMember(entry, "id", where));
    absl::StrAppend(&where, " (id ", id, ")");
  }
  MOCO_ASSIGN_OR_RETURN(const int64_t image_id, IntMember(entry, "image_id", where));
  const auto image_it = index_of_image.find(image_id);
  if (image_it == index_of_image.end()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": image_id ", image_id, " has no entry in \"images\""));
  }
  MOCO_ASSIGN_OR_RETURN(const int64_t category_id, IntMember(entry, "category_id", where));
  const auto label_it = label_of_category.find(category_id);
  if (label_it == label_of_category.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": category_id ", category_id, " has no entry in \"categories\""));
  }
  const auto bbox = entry.find("bbox");
  if (bbox == entry.end() || !bbox->is_array() || bbox->size() != 4 ||
      !std::all_of(bbox->begin(), bbox->end(), [](const Json& v) { return v.is_number(); })) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": \"bbox\" must be [x, y, w, h], is ",
                                                   bbox == entry.end() ? std::string("missing") : bbox->dump()));
  }
  const double x = (*bbox)[0].get<double>(), y = (*bbox)[1].get<double>();
  const double w = (*bbox)[2].get<double>(), h = (*bbox)[3].get<double>();
  GroundTruthBox box;
  box.x1 = static_cast<float>(x);
  box.y1 = static_cast<float>(y);
  box.x2 = static_cast<float>(x + w);
  box.y2 = static_cast<float>(y + h);
  box.label = label_it->second;
  const auto crowd = entry.find("iscrowd");
  if (crowd != entry.end()) {
    if (crowd->is_boolean()) {
      box.crowd = crowd->get<bool>();
    } else if (crowd->is_number_integer() && (crowd->get<int64_t>() == 0 || crowd->get<int64_t>() == 1)) {
      box.crowd = crowd->get<int64_t>() == 1;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"iscrowd\" is ", crowd->dump(), ", not 0 or 1"));
    }
  }
  DetectionImage& image = data->images[image_it->second];
  if (!(w > 0) || !(h > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": empty bbox ", bbox->dump(), " (needs w > 0 and h > 0)"));
  }
  MOCO_RETURN_IF_ERROR(
      CheckBox(box, image.width, image.height, absl::StrCat(where, " in image ", image.id, " ", bbox->dump())));
  image.boxes.push_back(box);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DetectionDataset> ParseCocoJson(absl::string_view text, absl::string_view source,
                                               const std::string& image_root) {
  const std::string json_path(source);
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(json_path, ": empty file, expected COCO instances JSON"));
  }
  Json root;
  try {
    WithoutSegmentations sax(root);
    Json::sax_parse(text, &sax);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(json_path, ": not JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(json_path,
                                                   ": expected a JSON object with \"images\", "
                                                   "\"annotations\" and \"categories\""));
  }
  MOCO_ASSIGN_OR_RETURN(const Json* categories, ArrayMember(root, "categories", /*required=*/true, json_path));
  MOCO_ASSIGN_OR_RETURN(const Json* images, ArrayMember(root, "images", /*required=*/true, json_path));
  MOCO_ASSIGN_OR_RETURN(const Json* annotations, ArrayMember(root, "annotations", /*required=*/false, json_path));
  DetectionDataset data;
  MOCO_ASSIGN_OR_RETURN(const auto label_of_category, ParseCocoCategories(*categories, json_path, &data));
  MOCO_ASSIGN_OR_RETURN(const auto index_of_image, ParseCocoImages(*images, json_path, image_root, &data));
  for (size_t i = 0; i < annotations->size(); ++i) {
    MOCO_RETURN_IF_ERROR(
        ParseCocoAnnotation((*annotations)[i], i, json_path, label_of_category, index_of_image, &data));
  }
  return data;
}

absl::StatusOr<DetectionDataset> ReadCocoJson(const std::string& json_path, const std::string& image_root) {
  MOCO_ASSIGN_OR_RETURN(const std::string text, ReadText(json_path));
  MOCO_ASSIGN_OR_RETURN(DetectionDataset data, ParseCocoJson(text, json_path, image_root));
  for (size_t i = 0; i < data.images.size(); ++i) {
    const DetectionImage& image = data.images[i];
    if (!FileExists(image.path)) {
      return absl::NotFoundError(absl::StrCat(json_path, ": images[", i, "] (id ", image.id, "): image file ",
                                              image.path, " does not exist"));
    }
  }
  return data;
}

namespace {

// The text of a required child element of a VOC annotation, stripped.
absl::StatusOr<std::string> VocText(const tinyxml2::XMLElement* parent, const char* name, const std::string& xml_path,
                                    const std::string& where) {
  const tinyxml2::XMLElement* child = parent->FirstChildElement(name);
  if (child == nullptr || child->GetText() == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(xml_path, ": ", where, " has no <", name, ">"));
  }
  return std::string(absl::StripAsciiWhitespace(child->GetText()));
}

// A required child element's number.
absl::StatusOr<double> VocNumber(const tinyxml2::XMLElement* parent, const char* name, const std::string& xml_path,
                                 const std::string& where) {
  MOCO_ASSIGN_OR_RETURN(const std::string text, VocText(parent, name, xml_path, where));
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(xml_path, ": ", where, ": <", name, "> is '", text, "', not a number"));
  }
  return value;
}

// <object> number `index`: its class, difficult flag (as crowd) and box (VOC's 1-based pixels).
absl::StatusOr<GroundTruthBox> ParseVocObject(const tinyxml2::XMLElement* object, int index,
                                              const std::string& xml_path, const DetectionImage& image) {
  std::string where = absl::StrCat("object ", index);
  MOCO_ASSIGN_OR_RETURN(const std::string name, VocText(object, "name", xml_path, where));
  absl::StrAppend(&where, " ('", name, "')");
  const std::vector<std::string>& classes = VocClassNames();
  const auto label = std::find(classes.begin(), classes.end(), name);
  if (label == classes.end()) {
    return absl::InvalidArgumentError(absl::StrCat(xml_path, ": ", where, ": not a VOC class"));
  }
  GroundTruthBox box;
  box.label = static_cast<int>(label - classes.begin());
  if (object->FirstChildElement("difficult") != nullptr) {
    MOCO_ASSIGN_OR_RETURN(const double difficult, VocNumber(object, "difficult", xml_path, where));
    if (difficult != 0 && difficult != 1) {
      return absl::InvalidArgumentError(absl::StrCat(xml_path, ": ", where, ": <difficult> is ", difficult));
    }
    box.crowd = difficult == 1;
  }
  const tinyxml2::XMLElement* bndbox = object->FirstChildElement("bndbox");
  if (bndbox == nullptr) return absl::InvalidArgumentError(absl::StrCat(xml_path, ": ", where, " has no <bndbox>"));
  const std::string box_where = where + " <bndbox>";
  MOCO_ASSIGN_OR_RETURN(const double xmin, VocNumber(bndbox, "xmin", xml_path, box_where));
  MOCO_ASSIGN_OR_RETURN(const double ymin, VocNumber(bndbox, "ymin", xml_path, box_where));
  MOCO_ASSIGN_OR_RETURN(const double xmax, VocNumber(bndbox, "xmax", xml_path, box_where));
  MOCO_ASSIGN_OR_RETURN(const double ymax, VocNumber(bndbox, "ymax", xml_path, box_where));
  box.x1 = static_cast<float>(xmin - 1);
  box.y1 = static_cast<float>(ymin - 1);
  box.x2 = static_cast<float>(xmax);
  box.y2 = static_cast<float>(ymax);
  MOCO_RETURN_IF_ERROR(CheckBox(box, image.width, image.height, absl::StrCat(xml_path, ": ", where)));
  return box;
}

}  // namespace

absl::StatusOr<DetectionImage> ParseVocAnnotation(absl::string_view xml, absl::string_view source) {
  const std::string xml_path(source);
  tinyxml2::XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(xml_path, ": not XML: ", doc.ErrorStr()));
  }
  const tinyxml2::XMLElement* annotation = doc.FirstChildElement("annotation");
  if (annotation == nullptr) return absl::InvalidArgumentError(absl::StrCat(xml_path, ": no <annotation> element"));
  DetectionImage image;
  const tinyxml2::XMLElement* size = annotation->FirstChildElement("size");
  if (size == nullptr) return absl::InvalidArgumentError(absl::StrCat(xml_path, ": <annotation> has no <size>"));
  MOCO_ASSIGN_OR_RETURN(const double width, VocNumber(size, "width", xml_path, "<size>"));
  MOCO_ASSIGN_OR_RETURN(const double height, VocNumber(size, "height", xml_path, "<size>"));
  if (width < 1 || height < 1 || width != std::floor(width) || height != std::floor(height) || width > (1 << 30) ||
      height > (1 << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(xml_path, ": bad image size ", width, " x ", height));
  }
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  int index = 0;
  for (const tinyxml2::XMLElement* object = annotation->FirstChildElement("object"); object != nullptr;
       object = object->NextSiblingElement("object"), ++index) {
    MOCO_ASSIGN_OR_RETURN(const GroundTruthBox box, ParseVocObject(object, index, xml_path, image));
    image.boxes.push_back(box);
  }
  return image;
}

absl::StatusOr<DetectionDataset> ReadVoc(const std::string& voc_root, const std::string& split) {
  const std::string split_path = absl::StrCat(voc_root, "/ImageSets/Main/", split, ".txt");
  MOCO_ASSIGN_OR_RETURN(const std::string split_text, ReadText(split_path));
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(split_text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    // Main/<split>.txt has one name a line; the per-class files add a +-1 flag after it.
    names.emplace_back(line.substr(0, line.find_first_of(" \t")));
  }
  if (names.empty()) return absl::InvalidArgumentError(absl::StrCat(split_path, ": no image names"));

  DetectionDataset data;
  data.class_names = VocClassNames();

  for (size_t i = 0; i < names.size(); ++i) {
    const std::string xml_path = absl::StrCat(voc_root, "/Annotations/", names[i], ".xml");
    if (!FileExists(xml_path)) {
      return absl::NotFoundError(absl::StrCat(xml_path, ": no such file (image '", names[i], "' of ", split_path, ")"));
    }
    MOCO_ASSIGN_OR_RETURN(const std::string xml, ReadText(xml_path));
    MOCO_ASSIGN_OR_RETURN(DetectionImage image, ParseVocAnnotation(xml, xml_path));
    image.id = static_cast<int64_t>(i) + 1;
    image.path = absl::StrCat(voc_root, "/JPEGImages/", names[i], ".jpg");
    if (!FileExists(image.path)) {
      return absl::NotFoundError(absl::StrCat(xml_path, ": image file ", image.path, " does not exist"));
    }
    data.images.push_back(std::move(image));
  }
  return data;
}

absl::StatusOr<DetectionDataset> ReadPennFudanDetection(const std::string& root, PennFudanSplit split) {
  MOCO_ASSIGN_OR_RETURN(const std::vector<PennFudanImage> images, ReadPennFudan(root, split));
  DetectionDataset data;
  data.class_names = {"person"};
  data.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    DetectionImage image;
    image.id = static_cast<int64_t>(i) + 1;
    image.path = images[i].image_path;
    image.width = images[i].width;
    image.height = images[i].height;
    for (const Box& b : images[i].boxes) {
      GroundTruthBox box;
      box.x1 = static_cast<float>(b.x1);
      box.y1 = static_cast<float>(b.y1);
      box.x2 = static_cast<float>(b.x2);
      box.y2 = static_cast<float>(b.y2);
      box.label = 0;
      image.boxes.push_back(box);
    }
    data.images.push_back(std::move(image));
  }
  return data;
}

int64_t CategoryId(const DetectionDataset& data, int label) {
  return data.category_ids.empty() ? label + 1 : data.category_ids.at(label);
}

absl::Status WriteCocoJson(const DetectionDataset& data, const std::string& path) {
  Json root = Json::object();
  root["info"] = {{"description", "written by moco::WriteCocoJson"}};
  Json categories = Json::array();
  for (size_t k = 0; k < data.class_names.size(); ++k) {
    categories.push_back({{"id", CategoryId(data, static_cast<int>(k))}, {"name", data.class_names[k]}});
  }
  Json images = Json::array();
  Json annotations = Json::array();
  std::unordered_map<int64_t, size_t> seen;
  int64_t annotation_id = 0;
  for (size_t i = 0; i < data.images.size(); ++i) {
    const DetectionImage& image = data.images[i];
    if (!seen.emplace(image.id, i).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": images[", i, "] repeats image id ", image.id));
    }
    images.push_back({{"id", image.id}, {"file_name", image.path}, {"width", image.width}, {"height", image.height}});
    for (size_t b = 0; b < image.boxes.size(); ++b) {
      const GroundTruthBox& box = image.boxes[b];
      if (box.label < 0 || box.label >= static_cast<int>(data.class_names.size())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": image ", image.id, " box ", b, ": label ", box.label,
                                                       " is not in [0, ", data.class_names.size(), ")"));
      }
      const double w = static_cast<double>(box.x2) - box.x1;
      const double h = static_cast<double>(box.y2) - box.y1;
      annotations.push_back({{"id", ++annotation_id},
                             {"image_id", image.id},
                             {"category_id", CategoryId(data, box.label)},
                             {"bbox", {static_cast<double>(box.x1), static_cast<double>(box.y1), w, h}},
                             {"area", w * h},
                             {"iscrowd", box.crowd ? 1 : 0}});
    }
  }
  root["images"] = std::move(images);
  root["annotations"] = std::move(annotations);
  root["categories"] = std::move(categories);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << root.dump();
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace moco
