// The pickle reader of torch_pickle.h: a stack machine over the opcodes torch.save emits, which
// rebuilds tensors from their storages and turns every other class into a placeholder string.
//
//   size_t pos = 0;
//   c10::IValue object = pickle::Unpickle(bytes, &pos, persistent_load);  // *pos: after STOP
#include <ATen/ATen.h>

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/torch_pickle.h"

namespace moco::pickle {

void Fail(const std::string& what) { throw PickleError(what); }

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

namespace {

constexpr char kUnsupportedPrefix[] = "<unsupported object ";

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
  PickleMachine(const std::string& bytes, const PersistentLoad& persistent_load)
      : bytes_(bytes), persistent_load_(persistent_load) {}

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
  const PersistentLoad& persistent_load_;
  size_t pos_ = 0;
  std::vector<Item> stack_;
  std::unordered_map<uint64_t, Item> memo_;
};

}  // namespace

c10::IValue Unpickle(const std::string& bytes, size_t* pos, const PersistentLoad& persistent_load) {
  return PickleMachine(bytes, persistent_load).Run(pos);
}

}  // namespace moco::pickle
