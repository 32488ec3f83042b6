// The containers of torch_file.h around the pickles of torch_pickle.h: the zip of PyTorch >= 1.6
// (data.pkl, byteorder, data/<key>; caffe2::serialize's PyTorchStreamReader/Writer) and the
// legacy format before it (consecutive pickles, then the raw storages).
//
//   MOCO_ASSIGN_OR_RETURN(c10::IValue object, ReadTorchFile(path));
//   MOCO_RETURN_IF_ERROR(WriteTorchFile(path, object));
#include "eval/torch_file.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "eval/torch_pickle.h"

namespace moco {
namespace {

using pickle::Fail;

// One persistent id: ('storage', storage type, key, location, numel[, view metadata]).
struct StorageRef {
  at::ScalarType dtype;
  std::string key;
  int64_t numel;
};

StorageRef ParseStorageRef(const c10::IValue& pid) {
  if (!pid.isTuple() || pid.toTupleRef().elements().size() < 5) Fail("a persistent id that is not a storage");
  const auto& e = pid.toTupleRef().elements();
  if (!e[0].isString() || e[0].toStringRef() != "storage") Fail("a persistent id that is not a storage");
  if (e.size() > 5 && !e[5].isNone()) Fail("storage views (a format older than PyTorch 0.4) are not supported");
  return StorageRef{pickle::StorageDtype(e[1].toStringRef()), e[2].isString() ? e[2].toStringRef() : c10::str(e[2]),
                    e[4].toInt()};
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool IsZip(const std::string& bytes) { return bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0; }

// torch.save since PyTorch 1.6: a zip of data.pkl, byteorder and data/<key> storages.
c10::IValue ReadZipTorchFile(caffe2::serialize::PyTorchStreamReader& reader) {
  if (!reader.hasRecord("data.pkl")) {
    Fail(reader.hasRecord("constants.pkl") ? "a TorchScript archive (from torch.jit.save or this suite's pretrainer), "
                                             "not a torch.save file"
                                           : "a zip file without data.pkl");
  }
  if (reader.hasRecord("byteorder")) {
    auto [data, size] = reader.getRecord("byteorder");
    if (std::string(static_cast<const char*>(data.get()), size) != "little") Fail("saved on a big-endian machine");
  }
  auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
  const std::string pickle(static_cast<const char*>(pickle_data.get()), pickle_size);
  std::map<std::string, at::Tensor> storages;
  const pickle::PersistentLoad load = [&](const c10::IValue& pid) -> c10::IValue {
    const StorageRef ref = ParseStorageRef(pid);
    auto it = storages.find(ref.key);
    if (it != storages.end()) return it->second;
    const int64_t nbytes = ref.numel * static_cast<int64_t>(c10::elementSize(ref.dtype));
    at::Tensor storage = at::empty({ref.numel}, at::TensorOptions().dtype(ref.dtype));
    if (nbytes > 0) {
      const std::string record = "data/" + ref.key;
      if (!reader.hasRecord(record)) Fail(absl::StrCat("storage ", record, " is missing"));
      if (static_cast<int64_t>(reader.getRecordSize(record)) != nbytes) {
        Fail(absl::StrCat("storage ", record, " holds ", reader.getRecordSize(record), " bytes, expected ", nbytes));
      }
      reader.getRecord(record, storage.data_ptr(), nbytes);
    }
    storages.emplace(ref.key, storage);
    return storage;
  };
  size_t pos = 0;
  return pickle::Unpickle(pickle, &pos, load);
}

// The format before PyTorch 1.6 (still torch.save(..., _use_new_zipfile_serialization=False)):
// pickles of the magic number, the protocol version, system info, the object and the storage
// keys, then each storage as an int64 element count and its raw bytes.
c10::IValue ReadLegacyTorchFile(const std::string& bytes) {
  // PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, STOP.
  static const std::string kMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15);
  if (bytes.compare(0, kMagic.size(), kMagic) != 0) Fail("neither a zip nor a legacy torch.save file");
  std::map<std::string, at::Tensor> storages;
  const pickle::PersistentLoad load = [&](const c10::IValue& pid) -> c10::IValue {
    const StorageRef ref = ParseStorageRef(pid);
    auto it = storages.find(ref.key);
    if (it != storages.end()) return it->second;
    at::Tensor storage = at::empty({ref.numel}, at::TensorOptions().dtype(ref.dtype));  // filled below
    storages.emplace(ref.key, storage);
    return storage;
  };
  size_t pos = kMagic.size();
  const c10::IValue version = pickle::Unpickle(bytes, &pos, load);
  if (!version.isInt() || version.toInt() != 1001) Fail(absl::StrCat("legacy protocol version ", c10::str(version)));
  const c10::IValue info = pickle::Unpickle(bytes, &pos, load);
  if (info.isGenericDict()) {
    auto dict = info.toGenericDict();
    auto it = dict.find(c10::IValue(std::string("little_endian")));
    if (it != dict.end() && it->value().isBool() && !it->value().toBool()) Fail("saved on a big-endian machine");
  }
  c10::IValue object = pickle::Unpickle(bytes, &pos, load);
  const c10::IValue keys = pickle::Unpickle(bytes, &pos, load);
  if (!keys.isList()) Fail("legacy storage key list missing");
  for (const c10::IValue& key_value : keys.toListRef()) {
    const std::string key = key_value.isString() ? key_value.toStringRef() : c10::str(key_value);
    auto it = storages.find(key);
    if (it == storages.end()) Fail(absl::StrCat("storage ", key, " is listed but never used"));
    at::Tensor& storage = it->second;
    if (pos + 8 > bytes.size()) Fail(absl::StrCat("truncated before storage ", key));
    int64_t count;
    std::memcpy(&count, bytes.data() + pos, 8);
    pos += 8;
    const int64_t nbytes = storage.numel() * storage.element_size();
    if (count != storage.numel()) Fail(absl::StrCat("storage ", key, " has ", count, " elements, expected ", storage.numel()));
    if (pos + nbytes > bytes.size()) Fail(absl::StrCat("truncated in storage ", key));
    std::memcpy(storage.data_ptr(), bytes.data() + pos, nbytes);
    pos += nbytes;
  }
  return object;
}

// The error for a file that cannot be read: the exception's first line.
absl::Status TorchFileError(absl::string_view source, const std::exception& e) {
  const std::string what = e.what();
  return absl::DataLossError(
      absl::StrCat("cannot read ", source, " as a torch.save file: ", what.substr(0, what.find('\n'))));
}

}  // namespace

absl::StatusOr<c10::IValue> ReadTorchFile(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) return absl::NotFoundError(absl::StrCat("no file at ", path));
  try {
    char head[4] = {0};
    std::ifstream(path, std::ios::binary).read(head, 4);
    if (IsZip(std::string(head, 4))) {
      caffe2::serialize::PyTorchStreamReader reader(path);
      return ReadZipTorchFile(reader);
    }
    return ReadLegacyTorchFile(ReadBytes(path));
  } catch (const std::exception& e) {
    return TorchFileError(path, e);
  }
}

absl::StatusOr<c10::IValue> ParseTorchFile(absl::string_view bytes, absl::string_view source) {
  try {
    const std::string contents(bytes);
    if (IsZip(contents)) {
      std::istringstream in(contents);
      caffe2::serialize::PyTorchStreamReader reader(&in);
      return ReadZipTorchFile(reader);
    }
    return ReadLegacyTorchFile(contents);
  } catch (const std::exception& e) {
    return TorchFileError(source, e);
  }
}

absl::Status WriteTorchFile(const std::string& path, const c10::IValue& value) {
  const std::filesystem::path target(path);
  std::error_code error;
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), error);
  const std::string temporary = path + ".partial";
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot create ", temporary));
    caffe2::serialize::PyTorchStreamWriter writer([&out](const void* data, size_t size) -> size_t {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
      return out ? size : 0;
    });
    std::vector<at::Tensor> storages;
    const std::string pickle = pickle::Pickle(value, &storages);
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeRecord("byteorder", "little", 6);
    for (size_t i = 0; i < storages.size(); ++i) {
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    }
    writer.writeEndOfFile();
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  } catch (const std::exception& e) {
    std::filesystem::remove(temporary, error);
    std::string what = e.what();
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", what.substr(0, what.find('\n'))));
  }
  std::filesystem::rename(temporary, target, error);
  if (error) return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path, ": ", error.message()));
  return absl::OkStatus();
}

absl::Status WriteTensorDict(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) dict.insert_or_assign(name, tensor);
  return WriteTorchFile(path, dict);
}

}  // namespace moco
