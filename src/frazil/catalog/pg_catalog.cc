#include "frazil/catalog/pg_catalog.h"

#include <optional>
#include <utility>

namespace frazil::catalog {
namespace {

uint64_t Fnv1a64(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// `?` placeholders (the dialect jdbc_catalog.cc writes) as PostgreSQL's $1, $2, ...
// Quoted literals are copied as they are.
std::string NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  bool quoted = false;
  for (char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted) {
      out += "$" + std::to_string(++n);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Whether a failed statement failed because the connection is unusable (as opposed to an
// error the server reported for the statement).
bool ConnectionFailure(const pg::PgConnection& conn, const std::string& sqlstate) {
  return !conn.ok() || sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

}  // namespace

// One pooled connection, lent for one catalog operation.
class PostgresCatalog::Session final : public SqlSession {
 public:
  Session(PostgresCatalog& owner, std::unique_ptr<pg::PgConnection> conn)
      : owner_(owner), conn_(std::move(conn)) {}
  ~Session() override {
    // Release closes a connection left inside a transaction (an operation that returned
    // between BEGIN and COMMIT): the server rolls it back.
    owner_.Release(std::move(conn_));
  }

  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<std::string>& params,
                                 std::string_view what) override {
    FRZ_ASSIGN_OR_RETURN(pg::PgResult res, Run(NumberPlaceholders(sql), params, what));
    std::vector<Row> rows;
    rows.reserve(static_cast<size_t>(res.rows()));
    for (int r = 0; r < res.rows(); ++r) {
      Row row;
      for (int c = 0; c < res.columns(); ++c) row.push_back(res.GetOptional(r, c));
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<std::string>& params,
                       std::string_view what) override {
    FRZ_ASSIGN_OR_RETURN(pg::PgResult res, Run(NumberPlaceholders(sql), params, what));
    return res.affected_rows();
  }

  Status Begin(std::string_view what) override {
    FRZ_RETURN_IF_ERROR(Run("BEGIN", {}, what));
    return Ok();
  }

  Status Commit(std::string_view what) override {
    // COMMIT was sent: whatever went wrong (the connection broke, no reply), the server may
    // have committed. A server that answers COMMIT with an error has not, but that cannot
    // happen for these transactions (no deferred constraints, READ COMMITTED), so every
    // failure here is reported as unknown.
    Result<pg::PgResult> done = Run("COMMIT", {}, what);
    if (done) return Ok();
    return MakeError(ErrorKind::kCommitStateUnknown, "commit state unknown after failed COMMIT: " + done.error().message);
  }

  void Rollback(std::string_view what) override {
    (void)what;
    if (conn_->ok() && conn_->in_transaction()) (void)conn_->Exec("ROLLBACK");
  }

  Result<bool> HasColumn(std::string_view table, std::string_view column) override {
    // to_regclass resolves the name through search_path, as the catalog's queries do.
    FRZ_ASSIGN_OR_RETURN(pg::PgResult res,
                         Run("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1::text) "
                             "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                             {std::string(table), std::string(column)}, "inspect the catalog tables"));
    return res.rows() > 0;
  }

 private:
  Result<pg::PgResult> Run(const std::string& sql, const std::vector<std::string>& params, std::string_view what) {
    std::vector<std::optional<std::string>> values(params.begin(), params.end());
    for (int attempt = 0;; ++attempt) {
      std::string sqlstate;
      Result<pg::PgResult> res = conn_->ExecParams(sql, values, &sqlstate);
      bool first = first_;
      first_ = false;
      if (res) return res;
      bool broken = ConnectionFailure(*conn_, sqlstate);
      // The pooled connection died while idle (server restart, pg_terminate_backend, a
      // network cut): nothing of this operation has run yet, so a new connection can
      // replay its first statement.
      if (broken && first && attempt == 0) {
        Result<std::unique_ptr<pg::PgConnection>> fresh = owner_.Connect(owner_.options_.application_name);
        if (fresh) {
          conn_ = std::move(*fresh);
          first_ = true;
          continue;
        }
      }
      ErrorKind kind = res.error().kind;
      if (sqlstate == "23505") kind = ErrorKind::kAlreadyExists;              // unique_violation
      if (broken || sqlstate.starts_with("40")) kind = ErrorKind::kIOError;  // retryable
      return MakeError(kind, "catalog '" + owner_.name() + "' " + std::string(what) + ": " + res.error().message);
    }
  }

  PostgresCatalog& owner_;
  std::unique_ptr<pg::PgConnection> conn_;
  bool first_ = true;  // no statement has run on conn_ yet in this session
};

class PostgresCatalog::SharedLease final : public WriteLease {
 public:
  explicit SharedLease(PostgresCatalog& owner) : owner_(owner) {}
  ~SharedLease() override { owner_.ReleaseShared(); }

 private:
  PostgresCatalog& owner_;
};

class PostgresCatalog::ExclusiveLease final : public WriteLease {
 public:
  ExclusiveLease(PostgresCatalog& owner, std::unique_ptr<pg::PgConnection> conn)
      : owner_(owner), conn_(std::move(conn)) {}
  ~ExclusiveLease() override { owner_.ReleaseExclusive(std::move(conn_)); }

 private:
  PostgresCatalog& owner_;
  std::unique_ptr<pg::PgConnection> conn_;
};

PostgresCatalog::PostgresCatalog(PostgresCatalogOptions options, std::shared_ptr<io::FileIO> file_io)
    : JdbcCatalog(JdbcCatalogConfig{.name = options.name,
                                    .warehouse = options.warehouse,
                                    .max_commit_attempts = options.max_commit_attempts,
                                    .clock = options.clock},
                  std::move(file_io)),
      options_(std::move(options)),
      lease_key_(LeaseKey(options_.name)) {}

PostgresCatalog::~PostgresCatalog() = default;

int64_t PostgresCatalog::LeaseKey(const std::string& catalog_name) {
  return static_cast<int64_t>(Fnv1a64("frazil write lease:" + catalog_name));
}

Result<std::unique_ptr<PostgresCatalog>> PostgresCatalog::Make(PostgresCatalogOptions options,
                                                               std::shared_ptr<io::FileIO> file_io) {
  if (options.conninfo.empty()) return MakeError(ErrorKind::kInvalidArgument, "postgres catalog: empty conninfo");
  if (options.pool_size < 1) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "postgres catalog: pool size must be at least 1, not " + std::to_string(options.pool_size));
  }
  JdbcCatalogConfig config{.name = options.name, .max_commit_attempts = options.max_commit_attempts,
                           .clock = options.clock};
  FRZ_RETURN_IF_ERROR(Validate("postgres catalog", config, file_io.get()));
  options.max_commit_attempts = config.max_commit_attempts;
  options.clock = config.clock;
  std::unique_ptr<PostgresCatalog> catalog(new PostgresCatalog(std::move(options), std::move(file_io)));
  FRZ_ASSIGN_OR_RETURN(std::unique_ptr<pg::PgConnection> first,
                       catalog->Connect(catalog->options_.application_name));
  catalog->where_ = first->Describe();
  {
    std::lock_guard lock(catalog->pool_mu_);
    catalog->open_ = 1;
  }
  Session session(*catalog, std::move(first));
  if (catalog->options_.create_tables) {
    // CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin (duplicate pg_type
    // rows): processes starting together serialize on a transaction-scoped advisory lock.
    std::string ddl_key = std::to_string(static_cast<int64_t>(Fnv1a64("frazil catalog ddl")));
    Result<bool> created = [&]() -> Result<bool> {
      FRZ_RETURN_IF_ERROR(session.Begin("create the catalog tables"));
      FRZ_RETURN_IF_ERROR(session.Query("SELECT pg_advisory_xact_lock(?::bigint)", {ddl_key}, "create the catalog tables"));
      FRZ_RETURN_IF_ERROR(session.Exec(kCreateIcebergTablesSql, {}, "create iceberg_tables"));
      FRZ_RETURN_IF_ERROR(session.Exec(kCreateNamespacePropertiesSql, {}, "create iceberg_namespace_properties"));
      FRZ_RETURN_IF_ERROR(session.Commit("create the catalog tables"));
      return true;
    }();
    if (!created) {
      session.Rollback("create the catalog tables");
      return std::unexpected(created.error());
    }
  }
  FRZ_RETURN_IF_ERROR(catalog->DetectLayout(session));
  return catalog;
}

Result<std::unique_ptr<pg::PgConnection>> PostgresCatalog::Connect(const std::string& application_name) const {
  // pg::PgConnection::Connect's error names host:port/db and the conninfo without password.
  return pg::PgConnection::Connect(options_.conninfo, /*replication=*/false, "", application_name);
}

Result<std::unique_ptr<SqlSession>> PostgresCatalog::OpenSession() {
  std::unique_ptr<pg::PgConnection> conn;
  {
    std::unique_lock lock(pool_mu_);
    pool_cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (conn == nullptr) {
    Result<std::unique_ptr<pg::PgConnection>> fresh = Connect(options_.application_name);
    if (!fresh) {
      std::lock_guard lock(pool_mu_);
      --open_;
      pool_cv_.notify_one();
      return std::unexpected(fresh.error());
    }
    conn = std::move(*fresh);
  }
  return std::unique_ptr<SqlSession>(new Session(*this, std::move(conn)));
}

void PostgresCatalog::Release(std::unique_ptr<pg::PgConnection> conn) {
  bool reusable = conn != nullptr && conn->ok() && !conn->in_transaction();
  if (!reusable) conn.reset();  // closed outside the pool lock
  std::lock_guard lock(pool_mu_);
  if (reusable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  pool_cv_.notify_one();
}

Result<std::unique_ptr<WriteLease>> PostgresCatalog::AcquireWriteLease(bool exclusive) {
  const std::vector<std::optional<std::string>> key{std::to_string(lease_key_)};
  std::unique_lock lock(lease_mu_);
  if (!exclusive) {
    // Shared leases of this instance join the one server lock already held. They never wait
    // for another server request themselves: a thread holding a lease that asks for a second
    // one (a writer's commit) would otherwise queue behind a remote exclusive request that
    // waits for the first -- a deadlock PostgreSQL cannot see.
    lease_cv_.wait(lock, [&] { return !exclusive_ && !shared_pending_; });
    if (shared_count_ > 0) {
      ++shared_count_;
      return std::unique_ptr<WriteLease>(new SharedLease(*this));
    }
    shared_pending_ = true;
    std::unique_ptr<pg::PgConnection> conn = std::move(shared_conn_);
    lock.unlock();
    Status locked = [&]() -> Status {
      if (conn != nullptr && conn->ok()) {
        // The kept connection may have died since (server restart, a network cut): one
        // more try on a new one.
        if (conn->ExecParams("SELECT pg_advisory_lock_shared($1::bigint)", key)) return Ok();
      }
      FRZ_ASSIGN_OR_RETURN(conn, Connect(options_.application_name + "-lease"));
      FRZ_RETURN_IF_ERROR(conn->ExecParams("SELECT pg_advisory_lock_shared($1::bigint)", key));
      return Ok();
    }();
    lock.lock();
    shared_pending_ = false;
    lease_cv_.notify_all();
    if (!locked) {
      return MakeError(ErrorKind::kIOError, "catalog '" + name() + "': taking the shared write lease at " + where_ +
                                                ": " + locked.error().message);
    }
    shared_conn_ = std::move(conn);
    shared_count_ = 1;
    return std::unique_ptr<WriteLease>(new SharedLease(*this));
  }
  lease_cv_.wait(lock, [&] { return shared_count_ == 0 && !shared_pending_ && !exclusive_; });
  exclusive_ = true;
  lock.unlock();
  std::unique_ptr<pg::PgConnection> conn;
  Status locked = [&]() -> Status {
    FRZ_ASSIGN_OR_RETURN(conn, Connect(options_.application_name + "-lease"));
    FRZ_RETURN_IF_ERROR(conn->ExecParams("SELECT pg_advisory_lock($1::bigint)", key));
    return Ok();
  }();
  if (!locked) {
    lock.lock();
    exclusive_ = false;
    lease_cv_.notify_all();
    return MakeError(ErrorKind::kIOError, "catalog '" + name() + "': taking the exclusive write lease at " + where_ +
                                              ": " + locked.error().message);
  }
  return std::unique_ptr<WriteLease>(new ExclusiveLease(*this, std::move(conn)));
}

void PostgresCatalog::ReleaseShared() {
  std::lock_guard lock(lease_mu_);
  if (--shared_count_ > 0) return;
  // Keep the connection for the next lease if it could give the lock back; otherwise
  // closing it releases the lock on the server.
  if (shared_conn_ != nullptr &&
      !(shared_conn_->ok() &&
        shared_conn_->ExecParams("SELECT pg_advisory_unlock_shared($1::bigint)", {std::to_string(lease_key_)}))) {
    shared_conn_.reset();
  }
  lease_cv_.notify_all();
}

void PostgresCatalog::ReleaseExclusive(std::unique_ptr<pg::PgConnection> conn) {
  // Unlocked explicitly so the lock is gone when this returns (a closed session's locks go
  // only when its backend has exited); closing releases it anyway if that fails.
  if (conn != nullptr && conn->ok()) {
    (void)conn->ExecParams("SELECT pg_advisory_unlock($1::bigint)", {std::to_string(lease_key_)});
  }
  conn.reset();
  std::lock_guard lock(lease_mu_);
  exclusive_ = false;
  lease_cv_.notify_all();
}

}  // namespace frazil::catalog
