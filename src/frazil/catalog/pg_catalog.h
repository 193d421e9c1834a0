// The catalog in a PostgreSQL database, with exactly the tables of Iceberg's JDBC catalog
// (org.apache.iceberg.jdbc.JdbcCatalog) and PyIceberg's SqlCatalog, so that several frazil
// processes on several hosts, Spark and PyIceberg share one catalog (docs/catalog.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frazil/base/clock.h"
#include "frazil/catalog/jdbc_catalog.h"
#include "frazil/io/file_io.h"
#include "frazil/pg/pg.h"

namespace frazil::catalog {

struct PostgresCatalogOptions {
  // libpq conninfo: "host=db port=5432 dbname=lake user=frazil" or
  // "postgresql://frazil@db:5432/lake". Never shown with its password.
  std::string conninfo;
  std::string name = "frazil";   // the catalog_name column; several catalogs may share a database
  std::string warehouse;         // root of default table locations ("s3://bucket/wh", "/srv/wh")
  int pool_size = 4;             // connections for catalog operations (the write lease has its own)
  bool create_tables = true;     // create iceberg_tables / iceberg_namespace_properties if absent
  int max_commit_attempts = 20;  // compare-and-swap races retried before CommitFailed
  std::string application_name = "frazil-catalog";  // pg_stat_activity.application_name
  Clock* clock = nullptr;        // stamps last-updated-ms; nullptr = Clock::System()
};

class PostgresCatalog final : public JdbcCatalog {
 public:
  // Connects (one pooled connection, to check the server and the tables), creates the
  // tables if asked and detects the layout: without the iceberg_type column (JDBC "V0") the
  // catalog works in that layout and does not alter it.
  // Errors: IOError "cannot connect to PostgreSQL at host:port/db ..." (password redacted);
  // InvalidArgument for an empty conninfo or name, a pool size < 1, or a failing DDL.
  static Result<std::unique_ptr<PostgresCatalog>> Make(PostgresCatalogOptions options,
                                                       std::shared_ptr<io::FileIO> file_io);
  ~PostgresCatalog() override;

  // PostgreSQL advisory lock on a key derived from the catalog name
  // (pg_advisory_lock_shared / pg_advisory_lock), so leases coordinate across processes and
  // hosts. Shared leases of this instance share one server lock held on a dedicated
  // connection while any is alive; an exclusive lease waits for this instance's shared
  // leases, then takes the server lock on its own connection. If that connection breaks the
  // server releases the lock. A lease must not outlive the catalog. Errors: IOError.
  Result<std::unique_ptr<WriteLease>> AcquireWriteLease(bool exclusive) override;

  // The advisory-lock key of a catalog name (FNV-1a 64 of "frazil write lease:" + name).
  static int64_t LeaseKey(const std::string& catalog_name);

 protected:
  // A pooled connection for one operation; blocks while all pool_size are in use. A broken
  // idle connection is replaced transparently on its first statement.
  Result<std::unique_ptr<SqlSession>> OpenSession() override;

 private:
  class Session;
  class SharedLease;
  class ExclusiveLease;
  friend class Session;
  friend class SharedLease;
  friend class ExclusiveLease;

  PostgresCatalog(PostgresCatalogOptions options, std::shared_ptr<io::FileIO> file_io);
  Result<std::unique_ptr<pg::PgConnection>> Connect(const std::string& application_name) const;
  // Hands a connection back to the pool; a broken one or one left in a transaction is closed.
  void Release(std::unique_ptr<pg::PgConnection> conn);
  void ReleaseShared();
  void ReleaseExclusive(std::unique_ptr<pg::PgConnection> conn);

  PostgresCatalogOptions options_;
  int64_t lease_key_;
  // "host:port/db", for messages.
  std::string where_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<pg::PgConnection>> idle_;  // guarded by pool_mu_
  int open_ = 0;                                          // guarded by pool_mu_: idle + lent out

  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  int shared_count_ = 0;                          // guarded by lease_mu_: live SharedLeases
  bool shared_pending_ = false;                   // guarded by lease_mu_: taking the server lock
  bool exclusive_ = false;                        // guarded by lease_mu_: an ExclusiveLease is held/taken
  std::unique_ptr<pg::PgConnection> shared_conn_; // guarded by lease_mu_: holds the shared lock
};

}  // namespace frazil::catalog
