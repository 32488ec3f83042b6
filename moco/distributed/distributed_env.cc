#include "moco/distributed/distributed_env.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "moco/common/status.h"

namespace moco {
namespace {

constexpr const char* kVariables[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                      "MASTER_PORT"};

absl::StatusOr<int> ParseInt(const std::string& name, const std::string& value) {
  int parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed)) {
    return absl::InvalidArgumentError(absl::StrCat(name, "=\"", value, "\" is not an integer"));
  }
  return parsed;
}

}  // namespace

absl::Status ValidateDistributedEnv(const DistributedEnv& env) {
  if (env.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("WORLD_SIZE=", env.world_size, " is out of range: must be at least 1"));
  }
  if (env.rank < 0 || env.rank >= env.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RANK=", env.rank, " is out of range: must be in [0, WORLD_SIZE=", env.world_size, ")"));
  }
  if (env.local_rank < 0 || env.local_rank >= env.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("LOCAL_RANK=", env.local_rank,
                     " is out of range: must be in [0, WORLD_SIZE=", env.world_size, ")"));
  }
  if (env.master_addr.empty()) {
    return absl::InvalidArgumentError("MASTER_ADDR is empty");
  }
  if (env.master_port < 1 || env.master_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("MASTER_PORT=", env.master_port, " is out of range: must be in [1, 65535]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DistributedEnv> DistributedEnvFromVariables(
    const std::map<std::string, std::string>& variables) {
  std::vector<std::string> set;
  std::vector<std::string> unset;
  for (const char* name : kVariables) {
    auto it = variables.find(name);
    if (it != variables.end() && !it->second.empty()) {
      set.push_back(absl::StrCat(name, "=\"", it->second, "\""));
    } else {
      unset.push_back(name);
    }
  }
  if (set.empty()) return DistributedEnv();
  if (!unset.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "incomplete distributed environment: ", absl::StrJoin(set, ", "), " set but ",
        absl::StrJoin(unset, ", "),
        " not; set all of RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT or none"));
  }
  DistributedEnv env;
  MOCO_ASSIGN_OR_RETURN(env.rank, ParseInt("RANK", variables.at("RANK")));
  MOCO_ASSIGN_OR_RETURN(env.world_size, ParseInt("WORLD_SIZE", variables.at("WORLD_SIZE")));
  MOCO_ASSIGN_OR_RETURN(env.local_rank, ParseInt("LOCAL_RANK", variables.at("LOCAL_RANK")));
  MOCO_ASSIGN_OR_RETURN(env.master_port, ParseInt("MASTER_PORT", variables.at("MASTER_PORT")));
  env.master_addr = variables.at("MASTER_ADDR");
  if (const auto it = variables.find("TORCHELASTIC_USE_AGENT_STORE"); it != variables.end()) {
    env.use_agent_store = it->second == "True";  // Python's str(True), as torchrun writes it
  }
  if (const auto it = variables.find("TORCHELASTIC_RESTART_COUNT"); it != variables.end() && !it->second.empty()) {
    MOCO_ASSIGN_OR_RETURN(env.restart_count, ParseInt("TORCHELASTIC_RESTART_COUNT", it->second));
  }
  MOCO_RETURN_IF_ERROR(ValidateDistributedEnv(env));
  return env;
}

absl::StatusOr<DistributedEnv> DistributedEnvFromEnvironment() {
  std::map<std::string, std::string> variables;
  for (const char* name : kVariables) {
    if (const char* value = std::getenv(name)) variables[name] = value;
  }
  for (const char* name : {"TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"}) {
    if (const char* value = std::getenv(name)) variables[name] = value;
  }
  return DistributedEnvFromVariables(variables);
}

}  // namespace moco
