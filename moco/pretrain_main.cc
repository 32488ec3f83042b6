// Pretrains MoCo, the end-to-end or memory-bank baseline, or the supervised reference, as the
// experiment config says, and reports the kNN accuracy beside that of the same encoder at
// random initialisation.
//
//   bazel run //moco:pretrain                                  # MoCo on CIFAR-10, under 5 minutes
//   bazel run //moco:pretrain -- --config=configs/cpu/moco_cifar10.pbtxt
//   bazel run //moco:pretrain -- --config=... --set='optim { epochs: 5 }' --nproc_per_node=2
//   torchrun --no-python --nproc_per_node=2 bazel-bin/moco/pretrain --config=...
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/config.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/distributed/worker_launcher.h"
#include "moco/train/metrics_log.h"
#include "moco/train/trainer.h"

ABSL_FLAG(std::string, config, "configs/smoke/quickstart.pbtxt", "Experiment config (.pbtxt).");
ABSL_FLAG(std::string, set, "",
          "Text-format overrides merged into the config, e.g. 'optim { epochs: 5 } moco { queue_size: 1024 }'.");
ABSL_FLAG(std::string, output_dir, "", "Where checkpoints and metrics go (default: the config's run.output_dir).");
ABSL_FLAG(bool, fresh, false, "Start over: delete the output folder's checkpoint and metrics first.");
ABSL_FLAG(int, max_steps, -1, "Stop after this many optimizer steps (overrides run.max_steps; 0: all epochs).");
ABSL_FLAG(int, threads, -1, "Intra-op threads per process (overrides run.threads; 0: one per core).");
ABSL_FLAG(int, nproc_per_node, 1,
          "Start this many processes on this machine (Gloo on CPU, NCCL on GPUs), splitting the global batch.");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "pretrain: error: " << status.message() << "\n";
  return 1;
}

std::string Percent(double v) { return v < 0 ? std::string("not measured") : absl::StrFormat("%.2f%%", v); }

// What was trained, how the kNN moved, where the outputs are and what to run next.
void PrintSummary(const moco::ExperimentConfig& config, const moco::TrainResult& result,
                  const std::string& output_dir) {
  std::cout << absl::StrFormat("\n%s (%s): %d steps, %d epochs%s in %.0f s, %.0f images/s\n", config.name(),
                               result.mechanism, result.steps, result.epochs_completed,
                               !result.complete  ? " (stopped early by max_steps)"
                               : !result.finished ? absl::StrFormat(" (stopped at epoch %d of %d by run.stop_after_epochs)",
                                                                    result.epochs_completed, config.optim().epochs())
                                                  : "",
                               result.wall_seconds,
                               result.images_per_second);
  std::cout << "  kNN top-1 on " << config.data().root() << "'s test split: " << Percent(result.random_init_knn)
            << " at random initialisation -> " << Percent(result.knn_top1) << " after training";
  if (result.knn_top1 >= 0 && result.random_init_knn >= 0) {
    std::cout << absl::StrFormat(" (%+.2f points)", result.knn_top1 - result.random_init_knn);
  }
  std::cout << "\n";
  // The kNN after each epoch, from metrics.jsonl (all sessions of a resumed run).
  absl::StatusOr<std::vector<moco::EpochMetrics>> epochs =
      moco::ReadEpochMetrics((std::filesystem::path(output_dir) / "metrics.jsonl").string());
  if (epochs.ok()) {
    std::vector<std::string> points;
    if (result.random_init_knn >= 0) points.push_back(absl::StrFormat("init %.1f", result.random_init_knn));
    for (const moco::EpochMetrics& e : *epochs) {
      if (e.knn_top1 >= 0) points.push_back(absl::StrFormat("%d: %.1f", e.epoch, e.knn_top1));
    }
    if (points.size() > 1) std::cout << "  kNN by epoch (%): " << absl::StrJoin(points, ", ") << "\n";
  }
  std::cout << "  outputs in " << output_dir << ":\n"
            << "    checkpoint.pt record.json metrics.jsonl curves.png (loss and kNN by epoch) events.out.tfevents.*\n"
            << "  next:\n"
            << "    curves, live:   ~/.cache/moco-cpp/torch-2.11.0/bin/tensorboard --logdir " << output_dir << "\n"
            << "    linear probe:   bazel run //eval:linear -- --checkpoint=" << output_dir << "/checkpoint.pt\n"
            << "    a paper table:  bazel run //benchmarks:reproduce -- --table=queue_size --tier=smoke\n";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Pretrains an encoder with MoCo or a baseline (end-to-end, memory bank, supervised) as the\n"
      "experiment config says, resuming from the output folder's checkpoint when there is one.\n"
      "Usage: pretrain [--config=FILE] [--set='TEXT PROTO'] [--output_dir=DIR] [--fresh]\n"
      "                [--max_steps=N] [--threads=N] [--nproc_per_node=N]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (rest.size() > 1) return Fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument '", rest[1], "'")));

  const int nproc = absl::GetFlag(FLAGS_nproc_per_node);
  if (nproc > 1 && std::getenv("RANK") == nullptr) {
    // The built-in launcher: run this same command as `nproc` workers.
    std::vector<std::string> worker_argv = {std::filesystem::read_symlink("/proc/self/exe").string()};
    for (int i = 1; i < argc; ++i) worker_argv.push_back(argv[i]);
    worker_argv.push_back("--nproc_per_node=1");
    absl::Status status = moco::LaunchWorkers(nproc, worker_argv);
    return status.ok() ? 0 : Fail(status);
  }

  const std::string path = moco::UserPath(absl::GetFlag(FLAGS_config));
  std::string output_dir;
  absl::StatusOr<moco::ExperimentConfig> config =
      moco::LoadExperiment(path, absl::GetFlag(FLAGS_set), [&](moco::ExperimentConfig* c) {
        if (absl::GetFlag(FLAGS_max_steps) >= 0) c->mutable_run()->set_max_steps(absl::GetFlag(FLAGS_max_steps));
        if (absl::GetFlag(FLAGS_threads) >= 0) c->mutable_run()->set_threads(absl::GetFlag(FLAGS_threads));
        output_dir = moco::OutputPath(absl::GetFlag(FLAGS_output_dir).empty() ? moco::Resolve(*c).run().output_dir()
                                                                              : absl::GetFlag(FLAGS_output_dir));
        c->mutable_run()->set_output_dir(output_dir);
        return absl::OkStatus();
      });
  if (!config.ok()) return Fail(config.status());
  moco::TrainOptions options;
  options.log = &std::cout;
  options.resume = true;
  options.fresh = absl::GetFlag(FLAGS_fresh);  // rank 0 clears inside the run, then a barrier
  absl::StatusOr<moco::TrainResult> result = moco::Train(*config, options);
  if (!result.ok()) return Fail(result.status());
  if (result->diverged) return Fail(absl::DataLossError(result->divergence));  // its record says so too
  if (std::getenv("RANK") == nullptr || std::string(std::getenv("RANK")) == "0") {
    PrintSummary(*config, *result, output_dir);
  }
  return 0;
}
