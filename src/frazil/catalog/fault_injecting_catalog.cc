#include "frazil/catalog/fault_injecting_catalog.h"

namespace frazil::catalog {

void FaultInjectingCatalog::FailNthCommit(int n, CommitFault fault) {
  std::lock_guard lock(mu_);
  fault_at_ = n > 0 ? commits_ + n : 0;
  fault_ = fault;
}

int FaultInjectingCatalog::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

CommitFault FaultInjectingCatalog::NextFault() {
  std::lock_guard lock(mu_);
  ++commits_;
  if (fault_at_ != 0 && commits_ == fault_at_) {
    fault_at_ = 0;
    return fault_;
  }
  return CommitFault::kNone;
}

Result<LoadedTable> FaultInjectingCatalog::CommitTable(
    const TableIdentifier& id, const std::vector<iceberg::TableRequirement>& requirements,
    const std::vector<iceberg::TableUpdate>& updates) {
  CommitFault fault = NextFault();
  if (fault == CommitFault::kFailBeforeSwap) {
    return MakeError(ErrorKind::kIOError, "injected fault before commit of " + id.ToString());
  }
  FRZ_ASSIGN_OR_RETURN(LoadedTable table, inner_->CommitTable(id, requirements, updates));
  if (fault == CommitFault::kUnknownAfterSwap) {
    return MakeError(ErrorKind::kCommitStateUnknown,
                     "injected fault after commit of " + id.ToString() + " (it did commit)");
  }
  return table;
}

Result<std::vector<LoadedTable>> FaultInjectingCatalog::CommitTransaction(
    const std::vector<TableCommit>& commits) {
  CommitFault fault = NextFault();
  if (fault == CommitFault::kFailBeforeSwap) {
    return MakeError(ErrorKind::kIOError, "injected fault before transaction commit");
  }
  FRZ_ASSIGN_OR_RETURN(std::vector<LoadedTable> tables, inner_->CommitTransaction(commits));
  if (fault == CommitFault::kUnknownAfterSwap) {
    return MakeError(ErrorKind::kCommitStateUnknown, "injected fault after transaction commit (it did commit)");
  }
  return tables;
}

}  // namespace frazil::catalog
