// A Catalog wrapper that injects commit faults, for crash and retry tests: the Nth commit
// (CommitTable or CommitTransaction) fails before reaching the wrapped catalog (as if the
// process died before the compare-and-swap) or reports CommitStateUnknown after the wrapped
// catalog committed (as if the reply was lost after the swap). Everything else forwards.
#pragma once

#include <memory>
#include <mutex>

#include "frazil/catalog/catalog.h"

namespace frazil::catalog {

enum class CommitFault {
  kNone,
  kFailBeforeSwap,     // IOError; the wrapped catalog is not called, nothing changes
  kUnknownAfterSwap,   // the wrapped catalog commits; the caller sees CommitStateUnknown
};

class FaultInjectingCatalog final : public Catalog {
 public:
  explicit FaultInjectingCatalog(std::shared_ptr<Catalog> inner) : inner_(std::move(inner)) {}

  // The `n`-th commit from now (1 = the next one) gets `fault`; replaces an earlier setting.
  void FailNthCommit(int n, CommitFault fault);
  // Commits seen so far (including faulted ones).
  int commits() const;

  const std::string& name() const override { return inner_->name(); }
  Result<std::vector<Namespace>> ListNamespaces(const Namespace& parent) override {
    return inner_->ListNamespaces(parent);
  }
  Status CreateNamespace(const Namespace& ns, const Properties& properties) override {
    return inner_->CreateNamespace(ns, properties);
  }
  Result<Properties> LoadNamespaceMetadata(const Namespace& ns) override {
    return inner_->LoadNamespaceMetadata(ns);
  }
  Result<bool> NamespaceExists(const Namespace& ns) override { return inner_->NamespaceExists(ns); }
  Status DropNamespace(const Namespace& ns) override { return inner_->DropNamespace(ns); }
  Status UpdateNamespaceProperties(const Namespace& ns, const std::vector<std::string>& removals,
                                   const Properties& updates) override {
    return inner_->UpdateNamespaceProperties(ns, removals, updates);
  }
  Result<std::vector<TableIdentifier>> ListTables(const Namespace& ns) override {
    return inner_->ListTables(ns);
  }
  Result<LoadedTable> CreateTable(const TableIdentifier& id, const iceberg::Schema& schema,
                                  const iceberg::PartitionSpec& spec, const iceberg::SortOrder& order,
                                  const std::optional<std::string>& location,
                                  const Properties& properties) override {
    return inner_->CreateTable(id, schema, spec, order, location, properties);
  }
  Result<LoadedTable> LoadTable(const TableIdentifier& id) override { return inner_->LoadTable(id); }
  Result<std::unique_ptr<WriteLease>> AcquireWriteLease(bool exclusive) override {
    return inner_->AcquireWriteLease(exclusive);
  }
  Result<bool> TableExists(const TableIdentifier& id) override { return inner_->TableExists(id); }
  Result<LoadedTable> CommitTable(const TableIdentifier& id,
                                  const std::vector<iceberg::TableRequirement>& requirements,
                                  const std::vector<iceberg::TableUpdate>& updates) override;
  Result<std::vector<LoadedTable>> CommitTransaction(const std::vector<TableCommit>& commits) override;
  Status DropTable(const TableIdentifier& id, bool purge) override { return inner_->DropTable(id, purge); }
  Status RenameTable(const TableIdentifier& from, const TableIdentifier& to) override {
    return inner_->RenameTable(from, to);
  }
  Result<LoadedTable> RegisterTable(const TableIdentifier& id,
                                    const std::string& metadata_location) override {
    return inner_->RegisterTable(id, metadata_location);
  }

 private:
  // Counts a commit and returns the fault it gets.
  CommitFault NextFault();

  std::shared_ptr<Catalog> inner_;
  mutable std::mutex mu_;
  int commits_ = 0;           // guarded by mu_
  int fault_at_ = 0;          // guarded by mu_; absolute commit number, 0 = none
  CommitFault fault_ = CommitFault::kNone;  // guarded by mu_
};

}  // namespace frazil::catalog
