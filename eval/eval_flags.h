// The flags //eval:knn and //eval:linear share (--checkpoint, --config, --set, --threads,
// --max_train_images, --max_test_images, --seed, --output), defined once, and what they say
// as EvalRunOptions.
//
//   absl::ParseCommandLine(argc, argv);
//   moco::EvalRunOptions options = moco::EvalRunOptionsFromFlags();
#ifndef MOCO_EVAL_EVAL_FLAGS_H_
#define MOCO_EVAL_EVAL_FLAGS_H_

#include "eval/eval_run.h"

namespace moco {

// The shared flags' values, after absl::ParseCommandLine; log is left unset.
EvalRunOptions EvalRunOptionsFromFlags();

}  // namespace moco

#endif  // MOCO_EVAL_EVAL_FLAGS_H_
