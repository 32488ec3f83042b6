#include "eval/torch_file.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/python_reference.h"

namespace moco {
namespace {

using c10::IValue;

c10::impl::GenericDict Dict() { return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()); }

IValue List(const std::vector<IValue>& values) {
  c10::impl::GenericList list(c10::AnyType::get());
  for (const IValue& v : values) list.push_back(v);
  return list;
}

IValue Tuple(std::vector<IValue> values) { return c10::ivalue::Tuple::create(std::move(values)); }

IValue Str(const char* s) { return IValue(std::string(s)); }

// The values both sides write; torch_file_test.py's common() builds the same.
IValue Common() {
  c10::impl::GenericDict d = Dict();
  d.insert(Str("none"), IValue());
  d.insert(Str("true"), true);
  d.insert(Str("false"), false);
  d.insert(Str("small"), int64_t{7});
  d.insert(Str("negative"), int64_t{-3});
  d.insert(Str("int32_min"), int64_t{std::numeric_limits<int32_t>::min()});
  d.insert(Str("big"), int64_t{1} << 40);
  d.insert(Str("int64_min"), std::numeric_limits<int64_t>::min());
  d.insert(Str("int64_max"), std::numeric_limits<int64_t>::max());
  d.insert(Str("pi"), 3.141592653589793);
  d.insert(Str("tiny"), 1e-300);
  d.insert(Str("negative_float"), -0.1);
  d.insert(Str("text"), Str("\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9"));
  d.insert(Str("empty_list"), List({}));
  d.insert(Str("empty_tuple"), Tuple({}));
  d.insert(Str("empty_dict"), Dict());
  d.insert(Str("matrix"), at::arange(6, at::kFloat).reshape({2, 3}));
  d.insert(Str("scalar"), at::scalar_tensor(2.5, at::kDouble));
  d.insert(Str("no_elements"), at::zeros({0, 3}));
  d.insert(Str("transposed"), at::arange(6, at::kFloat).reshape({2, 3}).t());  // written contiguous
  c10::impl::GenericDict dtypes = Dict();
  const std::vector<std::pair<const char*, at::ScalarType>> types = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort}, {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool}};
  for (const auto& [name, type] : types) dtypes.insert(Str(name), at::arange(4).to(type));
  d.insert(Str("dtypes"), dtypes);
  d.insert(Str("tuples"), List({Tuple({int64_t{1}}), Tuple({int64_t{1}, int64_t{2}}),
                                Tuple({int64_t{1}, int64_t{2}, int64_t{3}}),
                                Tuple({int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}})}));
  c10::impl::GenericDict deep = Dict();
  deep.insert(Str("deep"), at::arange(3));
  d.insert(Str("nested"), List({int64_t{1}, Str("two"), Tuple({3.0, List({deep})}), IValue()}));
  c10::impl::GenericDict state = Dict(), first = Dict(), second = Dict();
  first.insert(Str("momentum_buffer"), at::ones({2, 2}));
  second.insert(Str("momentum_buffer"), at::full({3}, -1.5));
  state.insert(int64_t{0}, first);
  state.insert(int64_t{1}, second);
  d.insert(Str("int_keys"), state);
  return d;
}

// Common() and what only torch_file_test.py writes, as ReadTorchFile should return it.
IValue PythonValues() {
  c10::impl::GenericDict d = Common().toGenericDict().copy();
  d.insert(Str("parameter"), at::tensor({1.0f, 2.0f}));
  c10::impl::GenericDict ordered = Dict();
  ordered.insert(Str("b"), int64_t{1});
  ordered.insert(Str("a"), int64_t{2});
  d.insert(Str("ordered"), ordered);
  d.insert(Str("base"), at::arange(10, at::kFloat));
  d.insert(Str("view"), at::tensor({2.0f, 4.0f, 6.0f}));
  d.insert(Str("namespace"), Str("<unsupported object argparse.Namespace>"));
  return d;
}

// Same kinds, same values (tensors: dtype, shape and elements; dicts: keys in order).
void ExpectSame(const IValue& actual, const IValue& expected, const std::string& where) {
  ASSERT_EQ(actual.tagKind(), expected.tagKind()) << where;
  if (expected.isGenericDict()) {
    const auto a = actual.toGenericDict(), e = expected.toGenericDict();
    ASSERT_EQ(a.size(), e.size()) << where;
    auto ai = a.begin();
    for (auto ei = e.begin(); ei != e.end(); ++ei, ++ai) {
      const std::string key = absl::StrCat(where, "[", c10::str(ei->key()), "]");
      ASSERT_NO_FATAL_FAILURE(ExpectSame(ai->key(), ei->key(), key + " (key)"));
      ASSERT_NO_FATAL_FAILURE(ExpectSame(ai->value(), ei->value(), key));
    }
  } else if (expected.isList() || expected.isTuple()) {
    const auto elements = [](const IValue& v) {
      return v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec();
    };
    const std::vector<IValue> a = elements(actual), e = elements(expected);
    ASSERT_EQ(a.size(), e.size()) << where;
    for (size_t i = 0; i < e.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(ExpectSame(a[i], e[i], absl::StrCat(where, "[", i, "]")));
    }
  } else if (expected.isTensor()) {
    const at::Tensor& a = actual.toTensor();
    const at::Tensor& e = expected.toTensor();
    EXPECT_EQ(a.scalar_type(), e.scalar_type()) << where;
    ASSERT_EQ(a.sizes(), e.sizes()) << where;
    EXPECT_TRUE(at::equal(a, e.to(a.scalar_type()))) << where << ": " << a << " vs " << e;
  } else if (expected.isString()) {
    EXPECT_EQ(actual.toStringRef(), expected.toStringRef()) << where;
  } else if (expected.isDouble()) {
    EXPECT_EQ(actual.toDouble(), expected.toDouble()) << where;  // exact: BINFLOAT is the IEEE double
  } else if (expected.isInt()) {
    EXPECT_EQ(actual.toInt(), expected.toInt()) << where;
  } else if (expected.isBool()) {
    EXPECT_EQ(actual.toBool(), expected.toBool()) << where;
  } else {
    EXPECT_TRUE(expected.isNone()) << where << ": a " << expected.tagKind() << " in the expectation";
  }
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TorchFileTest, NestedValuesRoundTrip) {
  const std::string path = TempPath("nested.pt");
  const absl::Status written = WriteTorchFile(path, Common());
  ASSERT_TRUE(written.ok()) << written;
  absl::StatusOr<IValue> read = ReadTorchFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSame(*read, Common(), "read");
  // The same from memory.
  absl::StatusOr<IValue> parsed = ParseTorchFile(Contents(path), "nested bytes");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(*parsed, Common(), "parsed");
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(TorchFileTest, TopLevelValuesOtherThanDictsRoundTrip) {
  for (const IValue& value : {IValue(), IValue(int64_t{-5}), Str("alone"), IValue(at::randn({3, 4})), List({}),
                              Tuple({at::arange(2), Dict()})}) {
    const std::string path = TempPath("top.pt");
    ASSERT_TRUE(WriteTorchFile(path, value).ok()) << value.tagKind();
    absl::StatusOr<IValue> read = ReadTorchFile(path);
    ASSERT_TRUE(read.ok()) << read.status();
    ExpectSame(*read, value, value.tagKind());
  }
}

TEST(TorchFileTest, TensorDictKeepsOrderAndValues) {
  const std::string path = TempPath("sub/dir/dict.pt");  // the folders are created
  const at::Tensor weight = at::randn({4, 3}), count = at::tensor({int64_t{12}});
  const absl::Status written =
      WriteTensorDict(path, {{"z.weight", weight}, {"a.count", count}, {"m.view", weight.slice(0, 1, 3)}});
  ASSERT_TRUE(written.ok()) << written;
  absl::StatusOr<IValue> read = ReadTorchFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  c10::impl::GenericDict expected = Dict();
  expected.insert(Str("z.weight"), weight);
  expected.insert(Str("a.count"), count);
  expected.insert(Str("m.view"), weight.slice(0, 1, 3));
  ExpectSame(*read, expected, "dict");
}

// Python reads what this library writes (weights_only=True) and writes files this library reads.
TEST(TorchFileTest, AgreesWithPythonTorch) {
  const std::string cpp_file = TempPath("from_cpp.pt"), out_dir = TempPath("");
  ASSERT_TRUE(WriteTorchFile(cpp_file, Common()).ok());
  ASSERT_NO_FATAL_FAILURE(
      RunPython("eval/torch_file_test.py", absl::StrCat("--check ", cpp_file, " --out_dir ", out_dir)));
  for (const char* name : {"zip_protocol2.pt", "zip_protocol4.pt", "legacy.pt"}) {
    const std::string path = TempPath(name);
    absl::StatusOr<IValue> read = ReadTorchFile(path);
    ASSERT_TRUE(read.ok()) << read.status();
    ExpectSame(*read, PythonValues(), name);

    // Every cut of the file is an error that names it (a few prefixes of each size class).
    const std::string bytes = Contents(path);
    ASSERT_GT(bytes.size(), 200u);
    for (size_t size = 0; size < bytes.size(); size += size < 64 || size + 64 > bytes.size() ? 1 : 37) {
      const std::string source = absl::StrCat(name, " cut to ", size, " bytes");
      absl::StatusOr<IValue> cut = ParseTorchFile(absl::string_view(bytes).substr(0, size), source);
      ASSERT_FALSE(cut.ok()) << source;
      EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss) << cut.status();
      ASSERT_TRUE(absl::StrContains(cut.status().message(), source)) << cut.status();
    }
    const std::string truncated = TempPath(absl::StrCat("truncated_", name));
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 10);
    const absl::Status status = ReadTorchFile(truncated).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), truncated)) << status;
  }
}

TEST(TorchFileTest, MissingAndGarbageFilesAreNamed) {
  const std::string missing = TempPath("not_there.pt");
  EXPECT_EQ(ReadTorchFile(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(ReadTorchFile(missing).status().message(), missing));

  const std::string garbage = TempPath("garbage.pt");
  std::ofstream(garbage) << "this is not a torch.save file";
  absl::Status status = ReadTorchFile(garbage).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), garbage)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "neither a zip nor a legacy")) << status;

  // The legacy magic number, then an opcode torch.save never writes.
  const std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15);
  status = ParseTorchFile(magic + "\xff", "bad opcode").status();
  EXPECT_TRUE(absl::StrContains(status.message(), "bad opcode")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "unsupported pickle opcode 0xff")) << status;
}

TEST(TorchFileTest, UnwritableValuesAreErrorsNamingTheFileAndLeaveNothing) {
  const std::string path = TempPath("unwritable.pt");
  c10::impl::GenericDict with_device = Dict();
  with_device.insert(Str("device"), IValue(c10::Device(c10::kCPU)));
  for (const IValue& value : {IValue(at::ones({2}, at::kComplexFloat)), IValue(at::Tensor()), IValue(with_device)}) {
    const absl::Status status = WriteTorchFile(path, value);
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(absl::StrContains(status.message(), path)) << status;
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  }
  EXPECT_TRUE(absl::StrContains(WriteTorchFile(path, IValue(at::ones({2}, at::kComplexFloat))).message(),
                                "cannot export tensors of type ComplexFloat"));
}

}  // namespace
}  // namespace moco
