"""The PyTorch side of torch_file_test.cc: checks with torch.load (weights_only=True, the
default) a file that WriteTorchFile wrote, then writes the same values with torch.save in the
zip format (pickle protocols 2 and 4) and the legacy format, plus what only Python writes
(a Parameter, an OrderedDict, a strided view of a shared storage, an object of another class).

  python torch_file_test.py --check CPP_FILE --out_dir DIR
"""
import argparse
import collections
import os

import torch


def common():
    """The values both sides write; torch_file_test.cc's Common() builds the same."""
    dtypes = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
    return {
        "none": None,
        "true": True,
        "false": False,
        "small": 7,
        "negative": -3,
        "int32_min": -2**31,
        "big": 2**40,
        "int64_min": -2**63,
        "int64_max": 2**63 - 1,
        "pi": 3.141592653589793,
        "tiny": 1e-300,
        "negative_float": -0.1,
        "text": "\u00fcn\u00efc\u00f6d\u00e9",
        "empty_list": [],
        "empty_tuple": (),
        "empty_dict": {},
        "matrix": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
        "no_elements": torch.zeros(0, 3),
        "transposed": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
        "dtypes": {name: torch.arange(4).to(getattr(torch, name)) for name in dtypes},
        "tuples": [(1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "nested": [1, "two", (3.0, [{"deep": torch.arange(3)}]), None],
        "int_keys": {0: {"momentum_buffer": torch.ones(2, 2)}, 1: {"momentum_buffer": torch.full((3,), -1.5)}},
    }


def python_only():
    base = torch.arange(10, dtype=torch.float32)
    return {
        "parameter": torch.nn.Parameter(torch.tensor([1.0, 2.0])),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "base": base,
        "view": base[2:7:2],  # offset 2, stride 2 in base's storage
        "namespace": argparse.Namespace(lr=0.1),
    }


def same(actual, expected, where):
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        assert list(actual.keys()) == list(expected.keys()), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            same(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            same(a, e, f"{where}[{i}]")
    elif isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype, f"{where}: {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: {actual.shape} != {expected.shape}"
        assert torch.equal(actual, expected), f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", required=True)
    parser.add_argument("--out_dir", required=True)
    args = parser.parse_args()
    same(torch.load(args.check), common(), "torch.load(WriteTorchFile)")
    print(f"torch.load with weights_only=True reads {args.check} as expected")

    values = {**common(), **python_only()}
    torch.save(values, os.path.join(args.out_dir, "zip_protocol2.pt"))
    torch.save(values, os.path.join(args.out_dir, "zip_protocol4.pt"), pickle_protocol=4)
    torch.save(values, os.path.join(args.out_dir, "legacy.pt"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
