// Status propagation helpers. The Debian Abseil (20220623) predates ABSL_RETURN_IF_ERROR,
// so these two small macros stand in for it.
//
//   MOCO_RETURN_IF_ERROR(ValidateData(config.data()));
//   MOCO_ASSIGN_OR_RETURN(Image image, DecodeJpeg(bytes, path));
#ifndef MOCO_COMMON_STATUS_H_
#define MOCO_COMMON_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MOCO_STATUS_CONCAT_INNER(a, b) a##b
#define MOCO_STATUS_CONCAT(a, b) MOCO_STATUS_CONCAT_INNER(a, b)

#define MOCO_RETURN_IF_ERROR(expr)                    \
  do {                                                \
    ::absl::Status moco_status_ = (expr);             \
    if (!moco_status_.ok()) return moco_status_;      \
  } while (0)

#define MOCO_ASSIGN_OR_RETURN(lhs, expr) \
  MOCO_ASSIGN_OR_RETURN_IMPL(MOCO_STATUS_CONCAT(moco_statusor_, __LINE__), lhs, expr)

#define MOCO_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // MOCO_COMMON_STATUS_H_
