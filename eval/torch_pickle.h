// The pickle subset torch.save uses (protocol 2, plus the few opcodes of protocols 3-4 other
// writers emit), for the containers in torch_file.cc: Unpickle runs one pickle into IValues
// (torch_unpickler.cc), Pickle writes IValues as torch.save would (torch_pickler.cc). Private
// to //eval:torch_file; its API is torch_file.h.
//
//   size_t pos = 0;
//   c10::IValue object = pickle::Unpickle(bytes, &pos, [&](const c10::IValue& pid) { return storage; });
//   std::vector<at::Tensor> storages;  // storages[i]: the persistent id with key "i"
//   const std::string bytes = pickle::Pickle(object, &storages);
#ifndef MOCO_EVAL_TORCH_PICKLE_H_
#define MOCO_EVAL_TORCH_PICKLE_H_

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace moco::pickle {

// Errors of the reader are thrown (LibTorch's IValue accessors throw on a wrong type anyway);
// torch_file.cc turns them into one status naming the file.
struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& what);

// The opcodes torch.save emits (protocol 2), plus the few of protocols 3-4 that other writers use.
enum Op : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2', kBinFloat = 'G', kBinInt = 'J',
  kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N', kBinPersId = 'Q', kReduce = 'R', kBinString = 'T',
  kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b', kGlobal = 'c', kDict = 'd',
  kEmptyDict = '}', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kList = 'l', kEmptyList = ']',
  kBinPut = 'q', kLongBinPut = 'r', kSetItem = 's', kTuple = 't', kEmptyTuple = ')', kSetItems = 'u',
  kBinBytes = 'B', kShortBinBytes = 'C', kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85, kTuple2 = 0x86,
  kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a, kLong4 = 0x8b, kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d, kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95,
};

// Python storage classes ("FloatStorage", in module torch) and their dtypes.
const std::vector<std::pair<std::string, at::ScalarType>>& StorageTypes();

// The dtype of a storage global ("torch.FloatStorage"); PickleError for any other.
at::ScalarType StorageDtype(const std::string& global);

// Returns the storage (a 1-D CPU tensor of its dtype) that a persistent id stands for.
using PersistentLoad = std::function<c10::IValue(const c10::IValue& pid)>;

// Runs the pickle that starts at bytes[*pos] up to its STOP, leaves *pos after it and returns
// its value. Dicts and OrderedDicts become GenericDicts, lists GenericLists, tuples Tuples,
// torch._utils._rebuild_tensor(_v2) and _rebuild_parameter tensors (views of the storages
// from `persistent_load`); objects of other classes become the string
// "<unsupported object module.Class>". Throws PickleError (or c10::Error) on a bad pickle.
c10::IValue Unpickle(const std::string& bytes, size_t* pos, const PersistentLoad& persistent_load);

// The protocol-2 pickle torch.save writes for `value`: None, bool, int, double, string,
// tensor, tuple, list and dict (keys any of these), nested. Each tensor is a contiguous CPU
// copy appended to `storages` (persistent id key: its index there). Throws
// std::invalid_argument for anything else (another IValue kind, an unsupported dtype).
std::string Pickle(const c10::IValue& value, std::vector<at::Tensor>* storages);

}  // namespace moco::pickle

#endif  // MOCO_EVAL_TORCH_PICKLE_H_
