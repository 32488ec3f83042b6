// The pickle writer of torch_pickle.h: the protocol-2 opcodes torch.save itself emits, so that
// torch.load reads the result with its default weights_only=True (no memo, no class but
// torch._utils._rebuild_tensor_v2, the storage classes and collections.OrderedDict).
//
//   std::vector<at::Tensor> storages;
//   const std::string bytes = pickle::Pickle(dict, &storages);  // then data.pkl, data/0, data/1, ...
#include <ATen/ATen.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "eval/torch_pickle.h"

namespace moco::pickle {
namespace {

// Deeper values are refused rather than recursed into (a list that holds itself, say).
constexpr int kMaxDepth = 1000;

class Pickler {
 public:
  explicit Pickler(std::vector<at::Tensor>* storages) : storages_(storages) {}

  std::string Run(const c10::IValue& value) {
    out_ = "\x80\x02";  // PROTO 2
    Value(value, 0);
    out_ += static_cast<char>(kStop);
    return std::move(out_);
  }

 private:
  void Value(const c10::IValue& v, int depth) {
    if (depth > kMaxDepth) {
      throw std::invalid_argument(absl::StrCat("a value nested deeper than ", kMaxDepth, " levels"));
    }
    if (v.isNone()) {
      out_ += static_cast<char>(kNone);
    } else if (v.isBool()) {
      out_ += static_cast<char>(v.toBool() ? kNewTrue : kNewFalse);
    } else if (v.isInt()) {
      Int(v.toInt());
    } else if (v.isDouble()) {
      Float(v.toDouble());
    } else if (v.isString()) {
      Unicode(v.toStringRef());
    } else if (v.isTensor()) {
      Tensor(v.toTensor());
    } else if (v.isTuple()) {
      const auto& elements = v.toTupleRef().elements();
      if (elements.empty()) {
        out_ += static_cast<char>(kEmptyTuple);
        return;
      }
      out_ += static_cast<char>(kMark);
      for (const c10::IValue& e : elements) Value(e, depth + 1);
      out_ += static_cast<char>(kTuple);
    } else if (v.isList()) {
      out_ += static_cast<char>(kEmptyList);
      if (v.toListRef().empty()) return;
      out_ += static_cast<char>(kMark);
      for (const c10::IValue& e : v.toListRef()) Value(e, depth + 1);
      out_ += static_cast<char>(kAppends);
    } else if (v.isGenericDict()) {
      out_ += static_cast<char>(kEmptyDict);
      out_ += static_cast<char>(kMark);
      for (const auto& entry : v.toGenericDict()) {
        Value(entry.key(), depth + 1);
        Value(entry.value(), depth + 1);
      }
      out_ += static_cast<char>(kSetItems);
    } else {
      throw std::invalid_argument(absl::StrCat("cannot write a ", v.tagKind(), " to a torch.save file"));
    }
  }

  // torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) of a
  // contiguous CPU copy, whose storage is storages_[key].
  void Tensor(const at::Tensor& tensor) {
    if (!tensor.defined()) throw std::invalid_argument("cannot write an undefined tensor to a torch.save file");
    const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const std::string storage_name = StorageName(t.scalar_type());
    const std::string storage_key = std::to_string(storages_->size());
    storages_->push_back(t);
    Global("torch._utils", "_rebuild_tensor_v2");
    out_ += '(';
    out_ += '(';  // persistent id ('storage', type, key, location, numel)
    Unicode("storage");
    Global("torch", storage_name);
    Unicode(storage_key);
    Unicode("cpu");
    Int(t.numel());
    out_ += 't';
    out_ += 'Q';
    Int(0);  // storage offset
    Ints(t.sizes());
    Ints(t.strides());
    out_ += static_cast<char>(kNewFalse);  // requires_grad
    Global("collections", "OrderedDict");  // backward hooks
    out_ += ")R";
    out_ += "tR";
  }

  static std::string StorageName(at::ScalarType dtype) {
    for (const auto& [name, type] : StorageTypes()) {
      if (type == dtype) return name;
    }
    throw std::invalid_argument(absl::StrCat("cannot export tensors of type ", c10::toString(dtype)));
  }
  void Unicode(const std::string& s) {
    out_ += static_cast<char>(kBinUnicode);
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
  // BINFLOAT: the IEEE 754 double, big-endian.
  void Float(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    out_ += static_cast<char>(kBinFloat);
    for (int i = 7; i >= 0; --i) out_ += static_cast<char>((bits >> (8 * i)) & 0xff);
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

  std::vector<at::Tensor>* storages_;
  std::string out_;
};

}  // namespace

std::string Pickle(const c10::IValue& value, std::vector<at::Tensor>* storages) { return Pickler(storages).Run(value); }

}  // namespace moco::pickle
