#include "eval/encoder_io.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/utils.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "moco/common/status.h"
#include "moco/contrastive/mechanism.h"
#include "moco/train/checkpoint.h"

namespace moco {
namespace {

// ---------------------------------------------------------------------------------------------
// Reading pickles. Errors inside the machine are thrown (LibTorch's IValue accessors throw on a
// wrong type anyway) and turned into one status naming the file in ReadTorchFile.

struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& what) { throw PickleError(what); }

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

constexpr char kUnsupportedPrefix[] = "<unsupported object ";

// Python storage classes <-> dtypes.
const std::vector<std::pair<std::string, at::ScalarType>>& StorageTypes() {
  static const auto* types = new std::vector<std::pair<std::string, at::ScalarType>>{
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}};
  return *types;
}

at::ScalarType StorageDtype(const std::string& global) {
  for (const auto& [name, dtype] : StorageTypes()) {
    if (global == "torch." + name) return dtype;
  }
  Fail(absl::StrCat("unsupported storage type ", global));
}

std::vector<int64_t> IntsOf(const c10::IValue& v, const char* what) {
  std::vector<int64_t> out;
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) out.push_back(e.toInt());
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) out.push_back(e.toInt());
  } else {
    Fail(absl::StrCat(what, " is not a tuple of ints"));
  }
  return out;
}

// torch._utils._rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...).
at::Tensor RebuildTensor(const std::vector<c10::IValue>& args) {
  if (args.size() < 4 || !args[0].isTensor()) Fail("_rebuild_tensor: expected (storage, offset, size, stride, ...)");
  const at::Tensor& storage = args[0].toTensor();
  const int64_t offset = args[1].toInt();
  const std::vector<int64_t> size = IntsOf(args[2], "tensor size"), stride = IntsOf(args[3], "tensor stride");
  if (size.size() != stride.size()) Fail("_rebuild_tensor: size and stride differ in length");
  int64_t last = offset;
  bool empty = false;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] < 0 || stride[i] < 0) Fail("_rebuild_tensor: negative size or stride");
    empty |= size[i] == 0;
    last += (size[i] - 1) * stride[i];
  }
  if (!empty && (offset < 0 || last >= storage.numel())) {
    Fail(absl::StrCat("a tensor of size ", c10::str(at::IntArrayRef(size)), " reaches past its storage of ",
                      storage.numel(), " elements"));
  }
  return at::empty({0}, storage.options()).set_(storage.storage(), offset, size, stride);
}

struct Item {
  enum Kind { kValue, kMarker, kGlobalRef } kind = kValue;
  c10::IValue value;
  std::string global;  // "module.name", for kGlobalRef
};

c10::impl::GenericDict NewDict() { return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()); }

// Runs pickles over an in-memory byte string; storages come from `persistent_load`.
class PickleMachine {
 public:
  using PersistentLoad = std::function<c10::IValue(const c10::IValue& pid)>;

  PickleMachine(const std::string& bytes, PersistentLoad persistent_load)
      : bytes_(bytes), persistent_load_(std::move(persistent_load)) {}

  // Runs the pickle that starts at *pos up to its STOP, leaves *pos after it, returns its value.
  c10::IValue Run(size_t* pos) {
    pos_ = *pos;
    stack_.clear();
    memo_.clear();
    while (true) {
      const uint8_t code = static_cast<uint8_t>(*Take(1));
      switch (code) {
        case kProto: Take(1); break;
        case kFrame: Take(8); break;
        case kStop:
          if (stack_.size() != 1) Fail(absl::StrCat("STOP with ", stack_.size(), " values on the stack"));
          *pos = pos_;
          return Value(stack_.back());
        case kMark: stack_.push_back(Item{Item::kMarker}); break;
        case kPop: Pop(); break;
        case kPopMark: PopToMark(); break;
        case kDup: stack_.push_back(Top()); break;
        case kNone: Push(c10::IValue()); break;
        case kNewTrue: Push(true); break;
        case kNewFalse: Push(false); break;
        case kBinInt: Push(static_cast<int64_t>(static_cast<int32_t>(Unsigned(4)))); break;
        case kBinInt1: Push(static_cast<int64_t>(Unsigned(1))); break;
        case kBinInt2: Push(static_cast<int64_t>(Unsigned(2))); break;
        case kLong1: Push(SignedLittleEndian(Unsigned(1))); break;
        case kLong4: Push(SignedLittleEndian(Unsigned(4))); break;
        case kBinFloat: {
          const uint64_t bits = BigEndian8();
          double d;
          std::memcpy(&d, &bits, sizeof(d));
          Push(d);
          break;
        }
        case kShortBinUnicode: case kShortBinString: case kShortBinBytes: Push(String(Unsigned(1))); break;
        case kBinUnicode: case kBinString: case kBinBytes: Push(String(Unsigned(4))); break;
        case kBinUnicode8: Push(String(Unsigned(8))); break;
        case kEmptyTuple: Push(c10::ivalue::Tuple::create(std::vector<c10::IValue>{})); break;
        case kTuple: Push(c10::ivalue::Tuple::create(PopToMark())); break;
        case kTuple1: case kTuple2: case kTuple3: {
          std::vector<c10::IValue> elements(code - kTuple1 + 1);
          for (auto it = elements.rbegin(); it != elements.rend(); ++it) *it = Value(Pop());
          Push(c10::ivalue::Tuple::create(std::move(elements)));
          break;
        }
        case kEmptyList: Push(c10::impl::GenericList(c10::AnyType::get())); break;
        case kList: {
          c10::impl::GenericList list(c10::AnyType::get());
          for (auto& v : PopToMark()) list.push_back(std::move(v));
          Push(list);
          break;
        }
        case kAppend: {
          c10::IValue v = Value(Pop());
          Container("APPEND").toList().push_back(std::move(v));
          break;
        }
        case kAppends: {
          std::vector<c10::IValue> values = PopToMark();
          c10::impl::GenericList list = Container("APPENDS").toList();
          for (auto& v : values) list.push_back(std::move(v));
          break;
        }
        case kEmptyDict: Push(NewDict()); break;
        case kDict: {
          c10::impl::GenericDict dict = NewDict();
          Insert(dict, PopToMark());
          Push(dict);
          break;
        }
        case kSetItem: {
          std::vector<c10::IValue> pair(2);
          pair[1] = Value(Pop());
          pair[0] = Value(Pop());
          Insert(Container("SETITEM").toGenericDict(), pair);
          break;
        }
        case kSetItems: {
          std::vector<c10::IValue> items = PopToMark();
          Insert(Container("SETITEMS").toGenericDict(), items);
          break;
        }
        case kGlobal: {
          std::string module = Line();
          std::string name = Line();
          stack_.push_back(Item{Item::kGlobalRef, c10::IValue(), module + "." + name});
          break;
        }
        case kStackGlobal: {
          std::string name = Value(Pop()).toStringRef();
          std::string module = Value(Pop()).toStringRef();
          stack_.push_back(Item{Item::kGlobalRef, c10::IValue(), module + "." + name});
          break;
        }
        case kBinPut: memo_[Unsigned(1)] = Top(); break;
        case kLongBinPut: memo_[Unsigned(4)] = Top(); break;
        case kMemoize: memo_[memo_.size()] = Top(); break;
        case kBinGet: case kLongBinGet: {
          const uint64_t key = Unsigned(code == kBinGet ? 1 : 4);
          auto it = memo_.find(key);
          if (it == memo_.end()) Fail(absl::StrCat("memo entry ", key, " read before it was written"));
          stack_.push_back(it->second);
          break;
        }
        case kReduce: case kNewObj: {
          c10::IValue args = Value(Pop());
          Item callable = Pop();
          if (callable.kind != Item::kGlobalRef) Fail("REDUCE of something that is not a class or function");
          Push(Call(callable.global, args));
          break;
        }
        case kBuild:
          // Object state (a state dict's _metadata, a Parameter's attributes): not needed.
          Pop();
          if (stack_.empty()) Fail("BUILD without an object");
          break;
        case kBinPersId: Push(persistent_load_(Value(Pop()))); break;
        default:
          Fail(absl::StrFormat("unsupported pickle opcode 0x%02x at byte %d", code, pos_ - 1));
      }
    }
  }

  size_t position() const { return pos_; }

 private:
  const char* Take(size_t n) {
    if (n > bytes_.size() || pos_ > bytes_.size() - n) Fail(absl::StrCat("truncated at byte ", pos_));
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t Unsigned(int n) {
    const auto* p = reinterpret_cast<const uint8_t*>(Take(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  uint64_t BigEndian8() {
    const auto* p = reinterpret_cast<const uint8_t*>(Take(8));
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
  }
  // Python's LONG1 / LONG4: little-endian two's complement of n bytes.
  int64_t SignedLittleEndian(uint64_t n) {
    if (n == 0) return 0;
    if (n > 8) Fail(absl::StrCat("an integer of ", n, " bytes does not fit 64 bits"));
    const uint64_t v = Unsigned(static_cast<int>(n));
    if (n == 8) return static_cast<int64_t>(v);
    const uint64_t sign = uint64_t{1} << (8 * n - 1);
    return static_cast<int64_t>((v ^ sign) - sign);
  }
  std::string String(uint64_t n) { return std::string(Take(n), n); }
  std::string Line() {
    const size_t end = bytes_.find('\n', pos_);
    if (end == std::string::npos) Fail("unterminated GLOBAL name");
    std::string line = bytes_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  void Push(c10::IValue v) { stack_.push_back(Item{Item::kValue, std::move(v)}); }
  Item Pop() {
    if (stack_.empty()) Fail("pop from an empty stack");
    Item item = std::move(stack_.back());
    stack_.pop_back();
    return item;
  }
  const Item& Top() const {
    if (stack_.empty()) Fail("empty stack");
    return stack_.back();
  }
  static c10::IValue Value(const Item& item) {
    if (item.kind == Item::kMarker) Fail("a MARK where a value was expected");
    if (item.kind == Item::kGlobalRef) return c10::IValue(item.global);  // e.g. a storage type
    return item.value;
  }
  std::vector<c10::IValue> PopToMark() {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1].kind != Item::kMarker) --mark;
    if (mark == 0) Fail("no MARK on the stack");
    std::vector<c10::IValue> values;
    for (size_t i = mark; i < stack_.size(); ++i) values.push_back(Value(stack_[i]));
    stack_.resize(mark - 1);
    return values;
  }
  // The list or dict that APPEND / SETITEM add to.
  c10::IValue Container(const char* op) const {
    const c10::IValue& v = Value(Top());
    if (v.isGenericDict() || v.isList()) return v;
    Fail(absl::StrCat(op, " on ", v.isString() ? v.toStringRef() : std::string(v.tagKind())));
  }
  static void Insert(c10::impl::GenericDict dict, const std::vector<c10::IValue>& items) {
    if (items.size() % 2 != 0) Fail("a dict with an odd number of keys and values");
    for (size_t i = 0; i < items.size(); i += 2) dict.insert_or_assign(items[i], items[i + 1]);
  }

  c10::IValue Call(const std::string& global, const c10::IValue& args_value) {
    if (!args_value.isTuple()) Fail(absl::StrCat("arguments of ", global, " are not a tuple"));
    const std::vector<c10::IValue> args = args_value.toTupleRef().elements().vec();
    if (global == "collections.OrderedDict") {
      if (!args.empty()) Fail("OrderedDict with constructor arguments");
      return NewDict();
    }
    if (global == "torch._utils._rebuild_tensor_v2" || global == "torch._utils._rebuild_tensor") {
      return RebuildTensor(args);
    }
    if (global == "torch._utils._rebuild_parameter" || global == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty() || !args[0].isTensor()) Fail(absl::StrCat(global, " without a tensor"));
      return args[0];
    }
    if (global == "torch._tensor._rebuild_from_type_v2") {  // (func, type, args, state): a tensor subclass
      if (args.size() < 3 || !args[0].isString()) Fail("_rebuild_from_type_v2: unexpected arguments");
      return Call(args[0].toStringRef(), args[2]);
    }
    if (global == "torch.Size" || global == "builtins.set" || global == "builtins.frozenset") {
      return args.empty() ? c10::IValue(c10::ivalue::Tuple::create(std::vector<c10::IValue>{})) : args[0];
    }
    return c10::IValue(absl::StrCat(kUnsupportedPrefix, global, ">"));
  }

  const std::string& bytes_;
  PersistentLoad persistent_load_;
  size_t pos_ = 0;
  std::vector<Item> stack_;
  std::unordered_map<uint64_t, Item> memo_;
};

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
  return StorageRef{StorageDtype(e[1].toStringRef()), e[2].isString() ? e[2].toStringRef() : c10::str(e[2]),
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
  PickleMachine machine(pickle, [&](const c10::IValue& pid) -> c10::IValue {
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
  });
  size_t pos = 0;
  return machine.Run(&pos);
}

// The format before PyTorch 1.6 (still torch.save(..., _use_new_zipfile_serialization=False)):
// pickles of the magic number, the protocol version, system info, the object and the storage
// keys, then each storage as an int64 element count and its raw bytes.
c10::IValue ReadLegacyTorchFile(const std::string& bytes) {
  // PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, STOP.
  static const std::string kMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15);
  if (bytes.compare(0, kMagic.size(), kMagic) != 0) Fail("neither a zip nor a legacy torch.save file");
  std::map<std::string, at::Tensor> storages;
  PickleMachine machine(bytes, [&](const c10::IValue& pid) -> c10::IValue {
    const StorageRef ref = ParseStorageRef(pid);
    auto it = storages.find(ref.key);
    if (it != storages.end()) return it->second;
    at::Tensor storage = at::empty({ref.numel}, at::TensorOptions().dtype(ref.dtype));  // filled below
    storages.emplace(ref.key, storage);
    return storage;
  });
  size_t pos = kMagic.size();
  const c10::IValue version = machine.Run(&pos);
  if (!version.isInt() || version.toInt() != 1001) Fail(absl::StrCat("legacy protocol version ", c10::str(version)));
  const c10::IValue info = machine.Run(&pos);
  if (info.isGenericDict()) {
    auto dict = info.toGenericDict();
    auto it = dict.find(c10::IValue(std::string("little_endian")));
    if (it != dict.end() && it->value().isBool() && !it->value().toBool()) Fail("saved on a big-endian machine");
  }
  c10::IValue object = machine.Run(&pos);
  const c10::IValue keys = machine.Run(&pos);
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

// ---------------------------------------------------------------------------------------------
// Writing: the pickle torch.save writes for a dict of tensors.

class DictPickler {
 public:
  DictPickler() { out_ += "\x80\x02}("; }  // PROTO 2, EMPTY_DICT, MARK

  void Add(const std::string& name, const at::Tensor& tensor, const std::string& storage_key) {
    Unicode(name);
    Global("torch._utils", "_rebuild_tensor_v2");
    out_ += '(';
    out_ += '(';  // persistent id ('storage', type, key, location, numel)
    Unicode("storage");
    Global("torch", StorageName(tensor.scalar_type()));
    Unicode(storage_key);
    Unicode("cpu");
    Int(tensor.numel());
    out_ += 't';
    out_ += 'Q';
    Int(0);  // storage offset
    Ints(tensor.sizes());
    Ints(tensor.strides());
    out_ += static_cast<char>(kNewFalse);  // requires_grad
    Global("collections", "OrderedDict");  // backward hooks
    out_ += ")R";
    out_ += "tR";
  }

  std::string Finish() { return out_ + "u."; }  // SETITEMS, STOP

 private:
  static std::string StorageName(at::ScalarType dtype) {
    for (const auto& [name, type] : StorageTypes()) {
      if (type == dtype) return name;
    }
    throw std::invalid_argument(absl::StrCat("cannot export tensors of type ", c10::toString(dtype)));
  }
  void Unicode(const std::string& s) {
    out_ += 'X';
    Bytes(static_cast<uint64_t>(s.size()), 4);
    out_ += s;
  }
  void Global(const std::string& module, const std::string& name) { out_ += absl::StrCat("c", module, "\n", name, "\n"); }
  void Int(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += static_cast<char>(kBinInt1);
      Bytes(static_cast<uint64_t>(v), 1);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += static_cast<char>(kBinInt);
      Bytes(static_cast<uint64_t>(static_cast<uint32_t>(v)), 4);
    } else {
      out_ += static_cast<char>(kLong1);
      out_ += '\x08';
      Bytes(static_cast<uint64_t>(v), 8);
    }
  }
  void Ints(at::IntArrayRef values) {
    if (values.empty()) {
      out_ += static_cast<char>(kEmptyTuple);
      return;
    }
    out_ += '(';
    for (int64_t v : values) Int(v);
    out_ += 't';
  }
  void Bytes(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }

  std::string out_;
};

// ---------------------------------------------------------------------------------------------
// Encoders.

std::string Describe(const ResNetOptions& o) {
  return absl::StrFormat("ResNet-%d (width %g, %s stem)", o.depth(), o.width_multiplier(),
                         o.cifar_stem() ? "CIFAR" : "ImageNet");
}

std::string Shape(const at::Tensor& t) { return c10::str(t.sizes()); }

// The encoder's tensors from a file, by their names inside the encoder ("conv1.weight"), with
// the keys they had in the file for error messages.
struct EncoderTensors {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> file_keys;
  std::string prefix;  // of the encoder's keys in the file: "encoder_q.", "module.encoder_q." or ""
};

// The state dict inside a Python file and the prefix of the query encoder's keys in it.
absl::StatusOr<EncoderTensors> PythonEncoderTensors(const c10::IValue& root, const std::string& path,
                                                    const config::ModelConfig& model) {
  if (!root.isGenericDict()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds a ", root.tagKind(), ", not a state dict"));
  }
  c10::impl::GenericDict dict = root.toGenericDict();
  const c10::IValue state_dict_key(std::string("state_dict"));
  if (dict.contains(state_dict_key)) {  // a training checkpoint: {'epoch', 'arch', 'state_dict', 'optimizer'}
    const c10::IValue arch_key(std::string("arch"));
    if (dict.contains(arch_key) && dict.at(arch_key).isString()) {
      const std::string arch = dict.at(arch_key).toStringRef();
      if (absl::StartsWith(arch, "resnet") && arch != absl::StrCat("resnet", model.depth())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": arch is '", arch, "' but the config says model.depth ",
                                                       model.depth()));
      }
    }
    const c10::IValue inner = dict.at(state_dict_key);
    if (!inner.isGenericDict()) return absl::InvalidArgumentError(absl::StrCat(path, ": 'state_dict' is not a dict"));
    dict = inner.toGenericDict();
  }
  bool any_module = false, all_module = dict.size() > 0;
  std::string prefix;
  for (const auto& entry : dict) {
    if (!entry.key().isString()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a state dict key is a ", entry.key().tagKind()));
    }
    const std::string& key = entry.key().toStringRef();
    if (absl::StartsWith(key, "module.encoder_q.")) prefix = "module.encoder_q.";
    if (prefix.empty() && absl::StartsWith(key, "encoder_q.")) prefix = "encoder_q.";
    any_module |= absl::StartsWith(key, "module.");
    all_module &= absl::StartsWith(key, "module.");
  }
  if (prefix.empty() && any_module && all_module) prefix = "module.";  // a DataParallel model's state dict
  EncoderTensors out;
  out.prefix = prefix;
  for (const auto& entry : dict) {
    const std::string& key = entry.key().toStringRef();
    if (!absl::StartsWith(key, prefix)) continue;  // encoder_k, queue, ...
    if (!entry.value().isTensor()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", key, " is a ", entry.value().tagKind(), ", not a tensor"));
    }
    const std::string name = key.substr(prefix.size());
    out.tensors[name] = entry.value().toTensor();
    out.file_keys[name] = key;
  }
  if (out.tensors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tensors", prefix.empty() ? "" : " under " + prefix));
  }
  return out;
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

absl::Status WriteTensorDict(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
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
    DictPickler pickler;
    std::vector<at::Tensor> storages;
    for (size_t i = 0; i < tensors.size(); ++i) {
      at::Tensor t = tensors[i].second.detach().to(at::kCPU).contiguous();
      pickler.Add(tensors[i].first, t, std::to_string(i));
      storages.push_back(t);
    }
    const std::string pickle = pickler.Finish();
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

absl::StatusOr<bool> IsPretrainerCheckpoint(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) return absl::NotFoundError(absl::StrCat("no file at ", path));
  char head[4] = {0};
  std::ifstream(path, std::ios::binary).read(head, 4);
  if (std::string(head, 4) != "PK\x03\x04") return false;  // a legacy torch.save file
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // torch::serialize::OutputArchive writes a TorchScript archive; torch.save does not.
    return reader.hasRecord("constants.pkl");
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", what.substr(0, what.find('\n'))));
  }
}

absl::StatusOr<ResNet> LoadEncoder(const std::string& path, const config::ModelConfig* model_hint) {
  MOCO_ASSIGN_OR_RETURN(const bool pretrainer, IsPretrainerCheckpoint(path));
  config::ExperimentConfig experiment;
  EncoderTensors file;
  if (pretrainer) {
    MOCO_ASSIGN_OR_RETURN(const std::string text, ReadCheckpointConfig(path));
    MOCO_ASSIGN_OR_RETURN(experiment, ParseConfig(text, path));
    MOCO_ASSIGN_OR_RETURN(auto all, ReadCheckpointTensors(path));
    file.prefix = "encoder_q.";
    for (auto& [key, tensor] : all) {
      if (!absl::StartsWith(key, "encoder_q.")) continue;
      const std::string name = key.substr(std::strlen("encoder_q."));
      file.tensors[name] = tensor;
      file.file_keys[name] = key;
    }
    if (file.tensors.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no encoder_q.* tensors"));
  } else {
    if (model_hint == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is a PyTorch file, which does not record the architecture: give a config whose model { depth "
                "width_multiplier stem } describes it (--config)"));
    }
    *experiment.mutable_model() = *model_hint;
    MOCO_ASSIGN_OR_RETURN(const c10::IValue root, ReadTorchFile(path));
    MOCO_ASSIGN_OR_RETURN(file, PythonEncoderTensors(root, path, experiment.model()));
  }

  // The head as the file has it: a Linear (fc.weight), the MoCo v2 MLP (fc.0, fc.2), or none.
  ResNetOptions options = EncoderOptions(experiment, experiment.model().feature_dim());
  options.bn_splits(1);
  const auto& t = file.tensors;
  bool file_has_head = true;
  if (t.count("fc.weight") && t.at("fc.weight").dim() == 2) {
    options.head(HeadKind::kLinear).out_dim(static_cast<int>(t.at("fc.weight").size(0)));
  } else if (t.count("fc.0.weight") && t.count("fc.2.weight") && t.at("fc.2.weight").dim() == 2) {
    options.head(HeadKind::kMlp).out_dim(static_cast<int>(t.at("fc.2.weight").size(0)));
  } else {
    file_has_head = false;
  }
  ResNet encoder(options);

  std::set<std::string> used;
  auto load = [&](const std::string& name, at::Tensor& target) -> absl::Status {
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) {
      if (absl::StartsWith(name, "fc.") && !file_has_head) return absl::OkStatus();
      // Absent from files of PyTorch < 0.4.1, and unused in evaluation.
      if (absl::EndsWith(name, "num_batches_tracked")) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", file.prefix, name, " is missing (a ", Describe(options),
                                                     " has it, of shape ", Shape(target), ")"));
    }
    used.insert(name);
    if (!it->second.sizes().equals(target.sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", file.file_keys.at(name), " has shape ",
                                                     Shape(it->second), " in the file, but a ", Describe(options),
                                                     " expects ", Shape(target)));
    }
    target.copy_(it->second);
    return absl::OkStatus();
  };
  torch::NoGradGuard no_grad;
  for (auto& p : encoder->named_parameters()) MOCO_RETURN_IF_ERROR(load(p.key(), p.value()));
  for (auto& b : encoder->named_buffers()) MOCO_RETURN_IF_ERROR(load(b.key(), b.value()));
  for (const auto& [name, tensor] : file.tensors) {
    if (!used.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unknown key ", file.file_keys.at(name), " (shape ",
                                                     Shape(tensor), "): a ", Describe(options), " has no such tensor"));
    }
  }
  encoder->eval();
  return encoder;
}

absl::Status ExportTorchvision(const ResNet& encoder, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : encoder->named_parameters()) {
    if (!absl::StartsWith(p.key(), "fc.")) tensors.emplace_back(p.key(), p.value());
  }
  for (const auto& b : encoder->named_buffers()) {
    if (!absl::StartsWith(b.key(), "fc.")) tensors.emplace_back(b.key(), b.value());
  }
  return WriteTensorDict(path, tensors);
}

}  // namespace moco
