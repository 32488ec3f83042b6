"""cc_fuzzer: a libFuzzer binary, built only under --config=fuzz (clang; see tools/fuzz.sh)."""

def cc_fuzzer(name, deps, **kwargs):
    """A libFuzzer target from `name`.cc, which defines LLVMFuzzerTestOneInput.

    Tagged manual: g++ has no libFuzzer, so `bazel build //...` leaves these out, and
    tools/fuzz.sh names them. The sanitizer copts come from --config=fuzz; only the link of a
    fuzzer adds libFuzzer's main.
    """
    native.cc_binary(
        name = name,
        srcs = [name + ".cc"],
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = deps,
        **kwargs
    )
