#!/usr/bin/env bash
# Packs the CUDA builds of the project's test and benchmark binaries so that they run on a
# GPU machine that has torch==2.11.0 installed for its Python (no Bazel or compiler there).
#
# Here (builds with --config=cuda, writes gpu_check.tar.gz):
#   tools/gpu_check.sh pack [OUT.tar.gz]
# On the GPU machine:
#   tar xzf gpu_check.tar.gz && gpu_check/run.sh
#
# The binaries carry absolute run paths to this machine's LibTorch; run.sh points them at
# the GPU machine's torch install instead (its lib/ and the nvidia/*/lib folders beside it).
# The other shared libraries they need beyond the C and C++ runtimes (Debian 12's Abseil,
# Protobuf, libpng, libjpeg, zlib) travel in gpu_check/lib, since the GPU machine may run
# another distribution.
#
# With GPU_CHECK_CIFAR=DIR (a CIFAR-10 JPEG tree, DIR/train/<class>/*.jpg) run.sh also
# trains the GPU tier's config (configs/gpu/moco_cifar10.pbtxt) end to end from the JPEGs
# for GPU_CHECK_STEPS steps (default 300): images/s with the C++ data pipeline and its
# data-wait share; and the throughput of that config with the views made on the CPU and on the
# GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

# Binaries packed for the GPU machine.
TARGETS=(
  //tests:libtorch_test
  //moco/distributed:process_group_test
  //moco:pretrain
  //benchmarks:throughput
  //benchmarks:reproduce  # tools/gpu_notebook.sh runs it
)

cmd="${1:-}"
[ "$cmd" = "pack" ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out="${2:-gpu_check.tar.gz}"

bazel build --config=cuda "${TARGETS[@]}"
bin=$(bazel info --config=cuda bazel-bin)
stage=$(mktemp -d)
mkdir -p "$stage/gpu_check/bin"
for target in "${TARGETS[@]}"; do
  path="${target#//}"; path="${path/://}"
  name=$(echo "$path" | tr / _)
  cp "$bin/$path" "$stage/gpu_check/bin/$name"
done
# Shared libraries outside LibTorch and the C/C++ runtimes, copied with their sonames.
mkdir -p "$stage/gpu_check/lib"
ldd "$stage"/gpu_check/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r soname path; do
    case "$soname" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libutil.so.*|libgcc_s.so.*|libstdc++.so.*) ;;
      *) case "$path" in */site-packages/*) ;; *) cp -L "$path" "$stage/gpu_check/lib/$soname" ;; esac ;;
    esac
  done
# Real data for a few training steps there: Fashion-MNIST (MIT licence, from its Debian package).
cp -r /usr/share/datasets/fashion-mnist "$stage/gpu_check/fashion-mnist"
cp configs/smoke/moco_fashion_mnist.pbtxt "$stage/gpu_check/"
# The tier configs the throughput cases start from (r50: paper/, r18gpu: gpu/).
mkdir -p "$stage/gpu_check/configs"
cp -r configs/cpu configs/gpu configs/paper "$stage/gpu_check/configs/"
# The commit the binaries are built from, which the copies cannot read from a checkout there.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)reports')" ]; then
  commit="$commit+dirty"
fi
cat > "$stage/gpu_check/run.sh" <<RUN
#!/usr/bin/env bash
# Runs the packed CUDA binaries against this machine's torch install.
set -uo pipefail
here=\$(cd "\$(dirname "\$0")" && pwd)
PY=\${PYTHON:-python3}
torch_dir=\$(\$PY -c 'import os, torch; print(os.path.dirname(torch.__file__))') || {
  echo "run.sh: no torch for \$PY; install torch==2.11.0 or set PYTHON" >&2; exit 1; }
libs="\$torch_dir/lib"
for d in "\$torch_dir"/../nvidia/*/lib; do [ -d "\$d" ] && libs="\$libs:\$(cd "\$d" && pwd)"; done
libs="\$libs:\$here/lib"
export LD_LIBRARY_PATH="\$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export MOCO_GIT_COMMIT="\${MOCO_GIT_COMMIT:-$commit}"  # what the records name: the packed build's commit
\$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
failed=0
run() {
  echo "=== \$*"
  "\$@" || { echo "=== FAILED: \$*"; failed=\$((failed + 1)); }
}
run "\$here/bin/tests_libtorch_test"
run "\$here/bin/moco_distributed_process_group_test"
# A short MoCo run on the GPU (bf16 autocast, channels_last): steps, loss, images/s, kNN.
run "\$here/bin/moco_pretrain" --config="\$here/moco_fashion_mnist.pbtxt" --output_dir=/tmp/gpu_check_run --fresh \\
  --set="data { root: \\"\$here/fashion-mnist\\" } run { device: CUDA }"
# Throughput on one GPU (bf16 autocast, channels_last), tensors in memory: ResNet-50 224 px MoCo
# (issue 8's target: >= 2,000 images/s on one H100) and the GPU tier's CIFAR ResNet-18, width 1,
# batch 512 (>= 8,000 image pairs/s); supervised beside each for the MoCo / supervised ratio.
run "\$here/bin/benchmarks_throughput" --device=cuda --configs_dir="\$here/configs" --r50_batch=256 \\
  --steps=30 --warmup=5 --cases=moco/memory/r50,supervised/memory/r50,moco/memory/r18gpu,supervised/memory/r18gpu \\
  --out=/tmp/gpu_check_throughput.json
runs=4
# The GPU tier's config end to end from CIFAR-10 JPEGs (decode + two views in C++), when given.
if [ -n "\${GPU_CHECK_CIFAR:-}" ]; then
  run "\$here/bin/moco_pretrain" --config="\$here/configs/gpu/moco_cifar10.pbtxt" --output_dir=/tmp/gpu_check_cifar \\
    --fresh --max_steps="\${GPU_CHECK_STEPS:-300}" --set="data { root: \\"\$GPU_CHECK_CIFAR\\" }"
  # The two views made on the loader's CPU threads against on the GPU (data.augment_on DEVICE),
  # in the same run (the dataset source reads MOCO_DATA_DIR/cifar10-jpeg).
  views_data=\$(mktemp -d) && ln -s "\$(cd "\$GPU_CHECK_CIFAR" && pwd)" "\$views_data/cifar10-jpeg"
  MOCO_DATA_DIR=\$views_data run "\$here/bin/benchmarks_throughput" --device=cuda \\
    --configs_dir="\$here/configs" --steps=100 --cases=moco/dataset/r18gpu,moco/dataset/r18gpu/devaug \\
    --out=/tmp/gpu_check_views.json
  runs=\$((runs + 2))
fi
# Two MoCo steps over NCCL on every GPU, when there are several.
ngpu=\$(\$PY -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
if [ "\$ngpu" -gt 1 ]; then
  run "\$here/bin/moco_pretrain" --config="\$here/moco_fashion_mnist.pbtxt" --output_dir=/tmp/gpu_check_nccl --fresh \\
    --nproc_per_node="\$ngpu" --max_steps=2 --set="data { root: \\"\$here/fashion-mnist\\" } run { device: CUDA }"
  runs=\$((runs + 1))
fi
echo "gpu_check: \$(( runs - failed )) passed, \$failed failed"
exit \$failed
RUN
chmod +x "$stage/gpu_check/run.sh"
tar -czf "$out" -C "$stage" gpu_check
rm -rf "$stage"
echo "wrote $out ($(du -h "$out" | cut -f1)); on the GPU machine: tar xzf $(basename "$out") && gpu_check/run.sh"
