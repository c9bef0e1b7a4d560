#include "store/store.h"

#include <malloc.h>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

namespace v6g::store {
namespace {

// Schema v5 (v4 with vm_rows' kind CHECK written as ORs, see kVmRows). Tables: configs (each VM
// config once, append-only), vm_rows (everything a VM holds), learned_bindings, audit; views with
// the v3 table names (vms, allocations, vm_vlans, ports, bindings) for readers - the store's own
// queries, operators and scripts with the sqlite3 shell.
//
// vm_rows: a VM's row (kind 'vm') and the rows of what it holds - addresses,
// MACs and taps ('ip6'/'mac'/'tap', name = the value), (bridge, VLAN) claims
// ('vlan'), bridge ports ('port', name = ifname) and static bindings
// ('binding') - in one WITHOUT ROWID table keyed by VM first, so a create
// writes them all into one leaf and a delete removes one key range. v3 kept
// them in five tables keyed five ways (vms, allocations, vm_vlans, ports,
// bindings): five random leaves per create, ~7.4 of the ~10.3 WAL frames a
// lone create wrote. Columns a kind does not use stay NULL (one header
// byte each). Host-wide uniqueness (allocations by (kind, value), a VLAN
// per bridge for one tenant) is checked by the store in memory (allocated_,
// vlans_: loaded at open, kept in step with every commit and rollback): the
// store is the only writer.
//
// configs is rowid-keyed and append-only (the audit log outlives the VM),
// so the creates of one group commit fill the same rightmost leaf; audit
// ids are a plain rowid (no AUTOINCREMENT page), never deleted.
//
// Bindings not owned by a VM's config (learned ones) live in
// learned_bindings; the bindings view is both.
constexpr const char* kConfigsAndAudit = R"sql(
CREATE TABLE configs (
  id     INTEGER PRIMARY KEY,
  config BLOB NOT NULL
);
CREATE TABLE audit (
  id            INTEGER PRIMARY KEY,
  at_ns         INTEGER NOT NULL,
  who           TEXT NOT NULL,
  action        TEXT NOT NULL,
  object        TEXT NOT NULL,
  before        TEXT NOT NULL,
  after         TEXT NOT NULL,
  tenant_id     TEXT NOT NULL DEFAULT '',
  before_config INTEGER,
  after_config  INTEGER
);
)sql";

// The kind CHECK is a chain of ORs, not `kind IN (...)`: SQLite evaluates a
// CHECK's IN list by building an ephemeral b-tree of its seven values for
// every inserted row (OP_OpenEphemeral inside the insert loop) - ~7% of an
// in-process CreateVm's CPU (schema v4), in the batch leader.
constexpr const char* kVmRows = R"sql(
CREATE TABLE vm_rows (
  vm_id      TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind = 'vm' OR kind = 'ip6' OR kind = 'mac' OR kind = 'tap' OR
                                  kind = 'vlan' OR kind = 'port' OR kind = 'binding'),
  name       TEXT NOT NULL,  -- '' (vm), the value (ip6/mac/tap), 'bridge vlan', ifname (port),
                             -- 'ifname vlan mac ip6' (binding)
  tenant_id  TEXT,           -- vm, vlan
  config_id  INTEGER,        -- vm
  state      TEXT,           -- vm, binding
  created_ns INTEGER,        -- vm
  updated_ns INTEGER,        -- vm
  bridge     TEXT,           -- vlan, port
  vlan       INTEGER,        -- vlan, port, binding
  mac        TEXT,           -- port, binding
  role       INTEGER,        -- port
  fail_mode  INTEGER,        -- port
  flags      INTEGER,        -- port
  ifname     TEXT,           -- binding
  ip6        TEXT,           -- binding
  PRIMARY KEY (vm_id, kind, name)
) WITHOUT ROWID;
)sql";

constexpr const char* kLearnedBindingsV4 = R"sql(
CREATE TABLE learned_bindings (
  ifname     TEXT NOT NULL,
  vlan       INTEGER NOT NULL,
  mac        TEXT NOT NULL,
  ip6        TEXT NOT NULL,
  state      TEXT NOT NULL,
  source     TEXT NOT NULL CHECK (source IN ('static', 'learned')),
  vm_id      TEXT,
  expires_ns INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ifname, vlan, mac, ip6)
) WITHOUT ROWID;
CREATE INDEX learned_bindings_vm ON learned_bindings(vm_id) WHERE vm_id IS NOT NULL;
)sql";

constexpr const char* kViewsV4 = R"sql(
CREATE VIEW vms AS
  SELECT vm_id AS id, tenant_id, config_id, state, created_ns, updated_ns
  FROM vm_rows WHERE kind = 'vm';
CREATE VIEW allocations AS
  SELECT kind, name AS value, vm_id FROM vm_rows WHERE kind IN ('ip6', 'mac', 'tap');
CREATE VIEW vm_vlans AS
  SELECT bridge, vlan, tenant_id, vm_id FROM vm_rows WHERE kind = 'vlan';
CREATE VIEW ports AS
  SELECT name AS ifname, bridge, vlan, mac, vm_id, role, fail_mode, flags
  FROM vm_rows WHERE kind = 'port';
CREATE VIEW bindings AS
  SELECT ifname, vlan, mac, ip6, state, 'static' AS source, vm_id, 0 AS expires_ns
  FROM vm_rows WHERE kind = 'binding'
  UNION ALL
  SELECT ifname, vlan, mac, ip6, state, source, vm_id, expires_ns FROM learned_bindings;
)sql";

// v4 -> v5: vm_rows rebuilt with the new CHECK, rows as they are; the
// views (which read vm_rows) go first and come back after.
constexpr const char* kMigrateV4ToV5Start = R"sql(
DROP VIEW vms;
DROP VIEW allocations;
DROP VIEW vm_vlans;
DROP VIEW ports;
DROP VIEW bindings;
ALTER TABLE vm_rows RENAME TO vm_rows_v4;
)sql";
constexpr const char* kMigrateV4ToV5Copy = R"sql(
INSERT INTO vm_rows SELECT * FROM vm_rows_v4;
DROP TABLE vm_rows_v4;
)sql";

// v3 -> v4 (foreign keys off, as for every migration), between kVmRows
// and kViewsV4 (the views take the old tables' names): every row moves into
// vm_rows or learned_bindings, names built as the store builds them.
constexpr const char* kMigrateV3ToV4Copy = R"sql(
INSERT INTO vm_rows(vm_id, kind, name, tenant_id, config_id, state, created_ns, updated_ns)
  SELECT id, 'vm', '', tenant_id, config_id, state, created_ns, updated_ns FROM vms;
INSERT INTO vm_rows(vm_id, kind, name) SELECT vm_id, kind, value FROM allocations;
INSERT INTO vm_rows(vm_id, kind, name, tenant_id, bridge, vlan)
  SELECT vm_id, 'vlan', bridge || ' ' || vlan, tenant_id, bridge, vlan FROM vm_vlans;
INSERT INTO vm_rows(vm_id, kind, name, bridge, vlan, mac, role, fail_mode, flags)
  SELECT vm_id, 'port', ifname, bridge, vlan, mac, role, fail_mode, flags FROM ports;
INSERT INTO vm_rows(vm_id, kind, name, ifname, vlan, mac, ip6, state)
  SELECT vm_id, 'binding', ifname || ' ' || vlan || ' ' || mac || ' ' || ip6, ifname, vlan, mac,
         ip6, state
  FROM bindings WHERE source = 'static' AND vm_id IS NOT NULL;
INSERT INTO learned_bindings(ifname, vlan, mac, ip6, state, source, vm_id, expires_ns)
  SELECT ifname, vlan, mac, ip6, state, source, vm_id, expires_ns
  FROM bindings WHERE NOT (source = 'static' AND vm_id IS NOT NULL);
DROP TABLE bindings;
DROP TABLE ports;
DROP TABLE vm_vlans;
DROP TABLE allocations;
DROP TABLE vms;
)sql";

// v2 -> v3 (foreign keys off, as for every migration): allocations re-keyed
// by VM (its index by VM goes with the old table), vms_tenant dropped. A v2
// database can't hold a duplicate (kind, value): its key was exactly that.
constexpr const char* kMigrateV2ToV3 = R"sql(
DROP INDEX IF EXISTS vms_tenant;
CREATE TABLE allocations_v3 (
  kind  TEXT NOT NULL CHECK (kind IN ('ip6', 'mac', 'tap')),
  value TEXT NOT NULL,
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (vm_id, kind, value)
) WITHOUT ROWID;
INSERT INTO allocations_v3(kind, value, vm_id) SELECT kind, value, vm_id FROM allocations;
DROP TABLE allocations;
ALTER TABLE allocations_v3 RENAME TO allocations;
)sql";

// v1 -> v2, with foreign keys off (set by migrate()) so rebuilding vms does
// not cascade into the tables that reference it. Each VM's config moves into
// configs; the JSON copies go (v1 audit rows keep their JSON text).
constexpr const char* kMigrateV1ToV2 = R"sql(
CREATE TABLE configs (
  id     INTEGER PRIMARY KEY,
  config BLOB NOT NULL
);
INSERT INTO configs(id, config) SELECT row_number() OVER (ORDER BY id), config FROM vms;
CREATE TABLE vms_v2 (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  config_id   INTEGER NOT NULL,
  state       TEXT NOT NULL,
  created_ns  INTEGER NOT NULL,
  updated_ns  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO vms_v2 SELECT id, tenant_id, row_number() OVER (ORDER BY id), state, created_ns,
  updated_ns FROM vms;
DROP TABLE vms;
ALTER TABLE vms_v2 RENAME TO vms;
CREATE INDEX vms_tenant ON vms(tenant_id);
ALTER TABLE audit ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN before_config INTEGER;
ALTER TABLE audit ADD COLUMN after_config INTEGER;
UPDATE audit SET tenant_id = coalesce((SELECT tenant_id FROM vms WHERE vms.id = audit.object), '');
)sql";

}  // namespace

// One use of a cached prepared statement; binds by 1-based position and
// resets the statement for the next user when it goes out of scope.
class Stmt {
 public:
  Stmt(Store& store, const std::string& sql) : db_(store.db_) { stmt_ = store.prepare(sql, rc_); }
  ~Stmt() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK; }
  Stmt& text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& blob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& int64(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& null_if_empty(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
      return *this;
    }
    return text(i, v);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ = sqlite3_step(stmt_); }

  std::string col_text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  std::string col_blob(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  std::int64_t col_int(int i) const { return sqlite3_column_int64(stmt_, i); }

  // The outcome of a failed call that returned the extended code `rc`. A
  // full disk is SQLITE_FULL; a read-only or failing state dir is
  // SQLITE_READONLY or an I/O error, whose errno says which (EROFS, EACCES...).
  static Outcome failure(sqlite3* db, int rc, std::string message) {
    const int primary = rc & 0xff;
    const int sys =
        primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN ? sqlite3_system_errno(db) : 0;
    if (sys != 0) message += std::string(" (") + std::strerror(sys) + ")";
    Code code = Code::kFailed;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
      code = Code::kConflict;
    } else if (primary == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT) {
      code = Code::kStorageFull;
    } else if (primary == SQLITE_READONLY || primary == SQLITE_IOERR ||
               primary == SQLITE_CANTOPEN) {
      code = Code::kStorageUnavailable;
    }
    return Outcome::fail(code, std::move(message));
  }
  Outcome error(std::string_view what) const {
    return failure(db_, sqlite3_extended_errcode(db_),
                   std::string(what) + ": " + sqlite3_errmsg(db_));
  }
  // Runs a statement that returns no rows.
  Outcome run(std::string_view what) {
    if (!prepared()) return error(what);
    return step() == SQLITE_DONE ? Outcome() : error(what);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

namespace {

VmRecord read_vm(const Stmt& s) {
  return VmRecord{s.col_text(0), s.col_text(1), s.col_blob(2),
                  s.col_text(3), s.col_int(4),  s.col_int(5)};
}

constexpr const char* kVmColumns =
    "SELECT vms.id, vms.tenant_id, configs.config, vms.state, vms.created_ns, vms.updated_ns "
    "FROM vms JOIN configs ON configs.id = vms.config_id ";

std::optional<Kind> kind_from_name(std::string_view name) {
  if (name == "ip6") return Kind::kIp6;
  if (name == "mac") return Kind::kMac;
  if (name == "tap") return Kind::kTap;
  return std::nullopt;
}

BindingRecord read_binding(const Stmt& s) {
  return BindingRecord{s.col_text(0), static_cast<std::uint16_t>(s.col_int(1)),
                       s.col_text(2), s.col_text(3),
                       s.col_text(4), s.col_text(5),
                       s.col_text(6), s.col_int(7)};
}

constexpr const char* kBindingColumns =
    "SELECT ifname, vlan, mac, ip6, state, source, coalesce(vm_id, ''), expires_ns FROM bindings";

}  // namespace

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kIp6:
      return "ip6";
    case Kind::kMac:
      return "mac";
    case Kind::kTap:
      return "tap";
  }
  return "?";
}

// The background half of the WAL checkpoints: its own connection (SQLite
// connections are not shared across threads here) and a thread that runs a
// PASSIVE checkpoint whenever the committer asks. PASSIVE never blocks the
// writer; it copies the frames committed when it starts, syncing the WAL
// before and the database file after (synchronous=NORMAL), as the in-line
// autocheckpoint did on the committing thread.
class Store::Checkpointer {
 public:
  static std::unique_ptr<Checkpointer> open(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      sqlite3_close_v2(db);
      return nullptr;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(db);
      return nullptr;
    }
    return std::unique_ptr<Checkpointer>(new Checkpointer(db));
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_close_v2(db_);
  }
  // Called after a commit; never blocks on the checkpoint itself.
  void request() {
    {
      std::lock_guard lock(mu_);
      if (pending_) return;
      pending_ = true;
    }
    wake_.notify_one();
  }
  std::uint64_t passes() {
    std::lock_guard lock(mu_);
    return passes_;
  }
  // Runs `checkpoint` on the caller's connection with no background pass in
  // flight and none queued: SQLite hands its checkpoint lock to one
  // connection at a time and never waits for it (not even in FULL/RESTART
  // mode: SQLITE_BUSY at once), so the committer's catch-up would otherwise
  // fail whenever it meets a background pass.
  template <typename F>
  void exclusive(F&& checkpoint) {
    std::lock_guard pass(pass_mu_);
    {
      std::lock_guard lock(mu_);
      pending_ = false;
    }
    checkpoint();
  }

 private:
  explicit Checkpointer(sqlite3* db) : db_(db), thread_([this] { run(); }) {}
  void run() {
    while (true) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return pending_ || stop_; });
        if (stop_) return;
      }
      std::lock_guard pass(pass_mu_);
      {
        // The committer's catch-up (exclusive) may have run meanwhile and
        // taken the request back.
        std::lock_guard lock(mu_);
        if (!pending_) continue;
        pending_ = false;
        ++passes_;
      }
      // Failure (a reader pinning old frames, I/O) only leaves the WAL
      // longer; the next request or the in-line fallback tries again.
      (void)sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
  }

  sqlite3* db_;
  std::mutex pass_mu_;  // held while a checkpoint of this class's runs
  std::mutex mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stop_ = false;
  std::uint64_t passes_ = 0;
  std::thread thread_;  // last: starts after the members it uses
};

int Store::on_wal_commit(void* self, sqlite3* db, const char*, int frames) {
  auto* store = static_cast<Store*>(self);
  if (frames < store->checkpoint_mark_) store->checkpoint_mark_ = 0;  // the WAL restarted
  if (frames >= kInlineCheckpointFrames) {
    // The WAL starts over only after a checkpoint copied every frame, which
    // a background pass racing a steady stream of commits never does: copy
    // the rest here, with no write in flight, so the next one restarts it.
    // Only once no background pass holds the checkpoint lock (SQLite
    // returns SQLITE_BUSY at once otherwise, in every mode: under load the
    // WAL grew to ~14k frames in a clean-clone CI run), and in RESTART mode:
    // it copies everything and waits until no connection reads from the
    // WAL, so the next write starts it over.
    store->checkpointer_->exclusive([db] {
      (void)sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    });
  } else if (frames - store->checkpoint_mark_ >= kCheckpointFrames) {
    store->checkpoint_mark_ = frames;
    store->checkpointer_->request();
  }
  return SQLITE_OK;
}

Store::Store(sqlite3* db) : db_(db) {}

Store::~Store() {
  checkpointer_.reset();  // before the connection whose WAL it checkpoints
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

sqlite3_stmt* Store::prepare(const std::string& sql, int& rc) {
  if (auto it = statements_.find(sql); it != statements_.end()) {
    rc = SQLITE_OK;
    return it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                          &stmt, nullptr);
  if (rc != SQLITE_OK) return nullptr;
  statements_.emplace(sql, stmt);
  return stmt;
}

Outcome Store::open(const std::string& path, std::unique_ptr<Store>& out) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Store> store(new Store(db));
  if (rc != SQLITE_OK) {
    return Outcome::fail(Code::kFailed, "open " + path + ": " + sqlite3_errstr(rc));
  }
  // SQLite frees and reallocates its per-savepoint and page buffers on every
  // write transaction; with glibc's default 128 KiB trim threshold each free
  // shrank the thread's arena (madvise + a TLB shootdown on every CPU) and the
  // next transaction faulted the pages back in: half the CPU of an in-process
  // CreateVm in perf. Keep up to 64 MiB of free heap instead (process-wide).
  // v6guardd links jemalloc (manager/daemon), where this is a no-op; tests and
  // sanitizer builds run on glibc's malloc.
  static std::once_flag malloc_tuned;
  std::call_once(malloc_tuned, [] { (void)mallopt(M_TRIM_THRESHOLD, 64 << 20); });
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  // Pages of 4 KiB (SQLite's default), set before WAL mode so a new database
  // gets them (an existing one keeps its page size: WAL can't change it). The
  // 1 KiB pages v2 started with were meant to shrink the WAL bytes per
  // commit, but a ~1 KB VM config did not fit a 1 KiB leaf (overflow page)
  // and the trees were deeper: a create wrote 23.5 WAL frames with 1 KiB
  // pages and 16 with 4 KiB, and in-process CPU per create fell from
  // ~350 us to ~265 us (docs/api.md). Per-page kernel work (the page cache
  // write path), not the bytes copied, is what a frame costs.
  //
  // WAL: readers (CLI, sqlite3 shell) never block the daemon's writer. NORMAL
  // sync: a commit is in the WAL file (the OS page cache) when COMMIT
  // returns, so it survives the daemon being killed (kill -9, crash); only
  // power loss or a kernel crash may drop the last commits (the WAL is synced
  // at checkpoints), and start-up reconciliation covers that. Savepoint
  // journals stay in memory (temp_store) instead of spilling to temp files.
  for (const char* pragma :
       {"PRAGMA page_size=4096", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
        "PRAGMA wal_autocheckpoint=8192", "PRAGMA cache_size=-16384", "PRAGMA temp_store=MEMORY",
        "PRAGMA mmap_size=268435456"}) {
    if (auto o = store->exec(pragma); !o) return o;
  }
  // Checkpoints in the background (see Checkpointer): the in-line
  // autocheckpoint cost the committing thread ~6% of an in-process create's
  // CPU and, under the writer lock, an fdatasync of the WAL and of the
  // database every few hundred creates that every queued create waited for.
  // In-memory databases have no WAL; they keep SQLite's default.
  if (store->wal_mode()) {
    if (auto checkpointer = Checkpointer::open(path)) {
      store->checkpointer_ = std::move(checkpointer);
      sqlite3_wal_hook(db, &Store::on_wal_commit, store.get());  // replaces autocheckpoint
    }
  }
  // Foreign keys go on after migrating: a migration rebuilds tables others
  // reference, which must not cascade.
  if (auto o = store->migrate(); !o) return o;
  if (auto o = store->exec("PRAGMA foreign_keys=ON"); !o) return o;
  if (auto o = store->load_held(); !o) return o;
  out = std::move(store);
  return {};
}

Outcome Store::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return {};
  std::string message = err ? err : "sqlite error";
  sqlite3_free(err);
  return Stmt::failure(db_, rc, std::move(message));
}

bool Store::wal_mode() {
  Stmt s(*this, "PRAGMA journal_mode");
  return s.step() == SQLITE_ROW && s.col_text(0) == "wal";
}

std::uint64_t Store::background_checkpoints() {
  return checkpointer_ ? checkpointer_->passes() : 0;
}

int Store::schema_version() {
  Stmt s(*this, "PRAGMA user_version");
  return s.step() == SQLITE_ROW ? static_cast<int>(s.col_int(0)) : -1;
}

Outcome Store::migrate() {
  const int version = schema_version();
  if (version == kSchemaVersion) return {};
  if (version > kSchemaVersion) {
    return Outcome::fail(Code::kFailed, "database schema version " + std::to_string(version) +
                                            " is newer than this v6guardd (" +
                                            std::to_string(kSchemaVersion) + ")");
  }
  Transaction txn(*this);
  if (!txn.begun()) return txn.begun();
  if (version == 0) {
    if (auto o = exec(kConfigsAndAudit); !o) return o;
  } else if (version >= 1 && version <= 3) {
    if (version == 1) {
      if (auto o = exec(kMigrateV1ToV2); !o) return o;
    }
    if (version <= 2) {
      if (auto o = exec(kMigrateV2ToV3); !o) return o;
    }
  } else if (version == 4) {
    if (auto o = exec(kMigrateV4ToV5Start); !o) return o;
  } else {
    return Outcome::fail(Code::kFailed,
                         "unknown database schema version " + std::to_string(version));
  }
  if (auto o = exec(kVmRows); !o) return o;
  if (version == 4) {
    if (auto o = exec(kMigrateV4ToV5Copy); !o) return o;
  } else {
    if (auto o = exec(kLearnedBindingsV4); !o) return o;
    if (version != 0) {
      if (auto o = exec(kMigrateV3ToV4Copy); !o) return o;
    }
  }
  if (auto o = exec(kViewsV4); !o) return o;
  const std::string set_version = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
  if (auto o = exec(set_version.c_str()); !o) return o;
  // The rebuilt tables must still satisfy every reference.
  Stmt check(*this, "PRAGMA foreign_key_check");
  if (const int rc = check.step(); rc != SQLITE_DONE) {
    return rc == SQLITE_ROW
               ? Outcome::fail(Code::kFailed, "migration broke a reference in " + check.col_text(0))
               : check.error("foreign_key_check");
  }
  return txn.commit();
}

Outcome Store::exec_cached(const std::string& sql) {
  Stmt s(*this, sql);
  return s.run(sql);
}

// The undo marks bound what each scope takes back or keeps. They also keep
// the in-memory holders right when SQLite rolls a whole transaction back on
// its own (SQLITE_FULL, I/O errors): the statements after that run in
// autocommit mode and record nothing, and the failed COMMIT takes back
// everything recorded before.
Store::Transaction::Transaction(Store& store) : store_(store), undo_mark_(store.undo_.size()) {
  begun_ = store_.exec_cached("BEGIN IMMEDIATE");
  open_ = begun_.ok();
}

Store::Transaction::~Transaction() {
  if (open_) {
    (void)store_.exec_cached("ROLLBACK");
    store_.undo_to(undo_mark_);
  }
}

Outcome Store::Transaction::commit() {
  if (!open_) return Outcome::fail(Code::kFailed, "commit without an open transaction");
  open_ = false;
  auto o = store_.exec_cached("COMMIT");
  if (!o) {
    (void)store_.exec_cached("ROLLBACK");
    store_.undo_to(undo_mark_);
    return o;
  }
  store_.committed(undo_mark_);
  return o;
}

Store::Savepoint::Savepoint(Store& store)
    : store_(store),
      undo_mark_(store.undo_.size()),
      outermost_(sqlite3_get_autocommit(store.db_) != 0) {
  begun_ = store_.exec_cached("SAVEPOINT v6g");
  open_ = begun_.ok();
}

Store::Savepoint::~Savepoint() {
  if (open_) {
    // ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it.
    (void)store_.exec_cached("ROLLBACK TO v6g");
    (void)store_.exec_cached("RELEASE v6g");
    store_.undo_to(undo_mark_);
  }
}

Outcome Store::Savepoint::release() {
  if (!open_) return Outcome::fail(Code::kFailed, "release without an open savepoint");
  open_ = false;
  auto o = store_.exec_cached("RELEASE v6g");
  // Inside a transaction its changes now belong to the transaction; an
  // outermost savepoint's RELEASE was the commit.
  if (o && outermost_) store_.committed(undo_mark_);
  return o;
}

namespace {

std::string vlan_name(const std::string& bridge, std::uint16_t vlan) {
  return bridge + ' ' + std::to_string(vlan);
}

// vlans_ keys: the claims of one (bridge, VLAN) share the prefix.
std::string vlan_prefix(const std::string& bridge, std::uint16_t vlan) {
  return vlan_name(bridge, vlan) + '\n';
}

// allocated_ keys: "kind value".
std::string allocation_key(Kind kind, const std::string& value) {
  return std::string(kind_name(kind)) + ' ' + value;
}

Outcome allocation_taken(Kind kind, const std::string& value, const std::string& holder) {
  return Outcome::fail(Code::kConflict, std::string(kind_name(kind)) + " " + value +
                                            " is already allocated to " + holder);
}

Outcome vlan_taken(const std::string& bridge, std::uint16_t vlan, const std::string& owner) {
  return Outcome::fail(Code::kConflict, "vlan " + std::to_string(vlan) + " on bridge " + bridge +
                                            " belongs to tenant " + owner);
}

std::string binding_name(const BindingRecord& b) {
  return b.ifname + ' ' + std::to_string(b.vlan) + ' ' + b.mac + ' ' + b.ip6;
}

// A static binding from a VM's config is one of the VM's rows; anything else
// (learned, or owned by no VM) is a learned_bindings row.
bool vm_owned(const BindingRecord& b) { return b.source == "static" && !b.vm_id.empty(); }

}  // namespace

Outcome Store::load_held() {
  allocated_.clear();
  vlans_.clear();
  undo_.clear();
  Stmt s(*this,
         "SELECT kind, name, vm_id, tenant_id FROM vm_rows WHERE kind IN ('ip6', 'mac', 'tap', "
         "'vlan')");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (s.col_text(0) == "vlan") {
      vlans_[s.col_text(1) + '\n' + s.col_text(2)] = s.col_text(3);
    } else {
      allocated_[s.col_text(0) + ' ' + s.col_text(1)] = s.col_text(2);
    }
  }
  return rc == SQLITE_DONE ? Outcome() : s.error("load allocations");
}

namespace {

template <typename Map>
void put(Map& map, const std::string& key, std::string value) {
  if (value.empty()) {
    map.erase(key);
  } else {
    map[key] = std::move(value);
  }
}

}  // namespace

void Store::set_holder(Held map, const std::string& key, std::string holder) {
  std::string before;
  if (map == Held::kAllocation) {
    if (auto it = allocated_.find(key); it != allocated_.end()) before = it->second;
  } else if (auto it = vlans_.find(key); it != vlans_.end()) {
    before = it->second;
  }
  // Outside a transaction the statement committed on its own: nothing to undo.
  if (sqlite3_get_autocommit(db_) == 0) undo_.push_back({map, key, std::move(before)});
  if (map == Held::kAllocation) {
    put(allocated_, key, std::move(holder));
  } else {
    put(vlans_, key, std::move(holder));
  }
}

void Store::undo_to(std::size_t mark) {
  while (undo_.size() > mark) {
    Undo& u = undo_.back();
    if (u.map == Held::kAllocation) {
      put(allocated_, u.key, std::move(u.holder));
    } else {
      put(vlans_, u.key, std::move(u.holder));
    }
    undo_.pop_back();
  }
}

void Store::committed(std::size_t mark) {
  if (undo_.size() > mark) undo_.resize(mark);
}

Outcome Store::insert_vm(const VmRecord& vm) {
  // The VM row first: a duplicate id fails before a config row is written
  // (the savepoint would take it back anyway). The config's rowid is known
  // in advance because nothing else inserts into configs meanwhile.
  Stmt next(*this, "SELECT coalesce(max(id), 0) + 1 FROM configs");
  if (next.step() != SQLITE_ROW) return next.error("next config id");
  const std::int64_t config_id = next.col_int(0);
  Stmt s(*this,
         "INSERT INTO vm_rows(vm_id, kind, name, tenant_id, config_id, state, created_ns, "
         "updated_ns) VALUES (?, 'vm', '', ?, ?, ?, ?, ?)");
  s.text(1, vm.id)
      .text(2, vm.tenant_id)
      .int64(3, config_id)
      .text(4, vm.state)
      .int64(5, vm.created_ns)
      .int64(6, vm.updated_ns);
  if (auto o = s.run("insert vm " + vm.id); !o) return o;
  Stmt c(*this, "INSERT INTO configs(id, config) VALUES (?, ?)");
  c.int64(1, config_id).blob(2, vm.config);
  return c.run("insert config of vm " + vm.id);
}

namespace {

// vm_rows' columns in the order insert_vm_with binds them, 1-based.
enum Col : int {
  kVmId = 1,
  kKind,
  kName,
  kTenant,
  kConfigId,
  kState,
  kCreated,
  kUpdated,
  kBridge,
  kVlan,
  kMac,
  kRole,
  kFailMode,
  kFlags,
  kIfname,
  kIp6,
  kColumns = kIp6
};

std::string insert_rows_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO vm_rows(vm_id, kind, name, tenant_id, config_id, state, created_ns, "
      "updated_ns, bridge, vlan, mac, role, fail_mode, flags, ifname, ip6) VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (int c = 0; c < kColumns; ++c) sql += c == 0 ? "?" : ",?";
    sql += ')';
  }
  return sql;
}

}  // namespace

// The tenant holding (bridge, VLAN) on the host, "" if none.
std::string Store::vlan_owner(const std::string& bridge, std::uint16_t vlan) const {
  const std::string prefix = vlan_prefix(bridge, vlan);
  if (auto it = vlans_.lower_bound(prefix);
      it != vlans_.end() && it->first.compare(0, prefix.size(), prefix) == 0)
    return it->second;
  return {};
}

// A port's ifname is its VM's tap: unique host-wide (v3's ports key).
Outcome Store::port_taken(const PortRecord& p, const std::string& vm_id) const {
  if (auto it = allocated_.find(allocation_key(Kind::kTap, p.ifname));
      it != allocated_.end() && it->second != vm_id)
    return Outcome::fail(Code::kConflict, "port " + p.ifname + " belongs to " + it->second);
  return {};
}

Outcome Store::insert_vm_with(const VmRecord& vm, std::span<const Allocation> allocations,
                              std::span<const VlanClaim> vlans, std::span<const PortRecord> ports,
                              std::span<const BindingRecord> bindings) {
  // A duplicate VM id is reported first, as insert_vm before any claim did;
  // looked up only when something failed, so the common path runs no query.
  const auto vm_exists = [&]() -> std::optional<Outcome> {
    Stmt q(*this, "SELECT 1 FROM vm_rows WHERE vm_id = ? AND kind = 'vm' AND name = ''");
    q.text(1, vm.id);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return Outcome::fail(Code::kConflict, "vm " + vm.id + " already exists");
    if (rc != SQLITE_DONE) return q.error("lookup vm " + vm.id);
    return std::nullopt;
  };
  const auto refuse = [&](Outcome o) { return vm_exists().value_or(std::move(o)); };

  // The checks claim, claim_vlan and insert_port make, in that order,
  // against what is held plus what this VM claimed before.
  std::vector<std::string> keys;
  for (const auto& a : allocations) {
    std::string key = allocation_key(a.kind, a.value);
    const auto it = allocated_.find(key);
    const bool mine = std::find(keys.begin(), keys.end(), key) != keys.end();
    if (it != allocated_.end() || mine)
      return refuse(allocation_taken(a.kind, a.value, mine ? vm.id : it->second));
    keys.push_back(std::move(key));
  }
  std::vector<const VlanClaim*> new_vlans;  // a VM claims a (bridge, VLAN) once
  for (const auto& v : vlans) {
    std::string owner = vlan_owner(v.bridge, v.vlan);
    for (const auto* n : new_vlans) {
      if (owner.empty() && n->bridge == v.bridge && n->vlan == v.vlan) owner = n->tenant_id;
    }
    if (!owner.empty() && owner != v.tenant_id) return refuse(vlan_taken(v.bridge, v.vlan, owner));
    const bool repeat = vlans_.count(vlan_prefix(v.bridge, v.vlan) + vm.id) != 0 ||
                        std::any_of(new_vlans.begin(), new_vlans.end(), [&](const VlanClaim* n) {
                          return n->bridge == v.bridge && n->vlan == v.vlan;
                        });
    if (!repeat) new_vlans.push_back(&v);
  }
  for (const auto& p : ports) {
    if (auto o = port_taken(p, vm.id); !o) return refuse(std::move(o));
  }
  // Static bindings of the VM are its rows (a repeated one once, with the
  // last state: upsert_binding's effect); others go through upsert_binding.
  std::vector<const BindingRecord*> own_bindings;
  for (const auto& b : bindings) {
    if (!vm_owned(b)) continue;
    auto same = std::find_if(own_bindings.begin(), own_bindings.end(), [&](const BindingRecord* o) {
      return binding_name(*o) == binding_name(b);
    });
    if (same != own_bindings.end()) {
      *same = &b;
    } else {
      own_bindings.push_back(&b);
    }
  }

  const std::size_t rows =
      1 + allocations.size() + new_vlans.size() + ports.size() + own_bindings.size();
  if (rows * kColumns > 32000) {
    return Outcome::fail(Code::kFailed, "vm " + vm.id + " holds too many resources to store");
  }
  Stmt next(*this, "SELECT coalesce(max(id), 0) + 1 FROM configs");
  if (next.step() != SQLITE_ROW) return next.error("next config id");
  const std::int64_t config_id = next.col_int(0);

  Stmt s(*this, insert_rows_sql(rows));
  if (!s.prepared()) return s.error("insert vm " + vm.id);
  int base = 0;
  const auto row = [&](std::string_view kind, std::string_view name) {
    s.text(base + kVmId, vm.id).text(base + kKind, kind).text(base + kName, name);
    return base;
  };
  row("vm", "");
  s.text(kTenant, vm.tenant_id)
      .int64(kConfigId, config_id)
      .text(kState, vm.state)
      .int64(kCreated, vm.created_ns)
      .int64(kUpdated, vm.updated_ns);
  for (const auto& a : allocations) {
    base += kColumns;
    row(kind_name(a.kind), a.value);
  }
  for (const auto* v : new_vlans) {
    base += kColumns;
    row("vlan", vlan_name(v->bridge, v->vlan));
    s.text(base + kTenant, v->tenant_id)
        .text(base + kBridge, v->bridge)
        .int64(base + kVlan, v->vlan);
  }
  for (const auto& p : ports) {
    base += kColumns;
    row("port", p.ifname);
    s.text(base + kBridge, p.bridge)
        .int64(base + kVlan, p.vlan)
        .text(base + kMac, p.mac)
        .int64(base + kRole, p.role)
        .int64(base + kFailMode, p.fail_mode)
        .int64(base + kFlags, p.flags);
  }
  for (const auto* b : own_bindings) {
    base += kColumns;
    row("binding", binding_name(*b));
    s.text(base + kState, b->state)
        .int64(base + kVlan, b->vlan)
        .text(base + kMac, b->mac)
        .text(base + kIfname, b->ifname)
        .text(base + kIp6, b->ip6);
  }
  if (auto o = s.run("insert vm " + vm.id); !o) {
    return o.code() == Code::kConflict ? refuse(std::move(o)) : o;
  }
  Stmt c(*this, "INSERT INTO configs(id, config) VALUES (?, ?)");
  c.int64(1, config_id).blob(2, vm.config);
  if (auto o = c.run("insert config of vm " + vm.id); !o) return o;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    set_holder(Held::kAllocation, keys[i], vm.id);
  }
  for (const auto* v : new_vlans) {
    set_holder(Held::kVlan, vlan_prefix(v->bridge, v->vlan) + vm.id, v->tenant_id);
  }
  for (const auto& b : bindings) {
    if (vm_owned(b)) continue;
    if (auto o = upsert_binding(b); !o) return o;
  }
  return {};
}

Outcome Store::get_vm(const std::string& id, VmRecord& out) {
  Stmt s(*this, std::string(kVmColumns) + "WHERE vms.id = ?");
  s.text(1, id);
  switch (s.step()) {
    case SQLITE_ROW:
      out = read_vm(s);
      return {};
    case SQLITE_DONE:
      return Outcome::fail(Code::kNotFound, "vm " + id + " not found");
    default:
      return s.error("get vm");
  }
}

Outcome Store::list_vms(std::vector<VmRecord>& out, const std::string& tenant_id) {
  Stmt s(*this, std::string(kVmColumns) + "WHERE ?1 = '' OR vms.tenant_id = ?1 ORDER BY vms.id");
  s.text(1, tenant_id);
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_vm(s));
  return rc == SQLITE_DONE ? Outcome() : s.error("list vms");
}

Outcome Store::delete_vm(const std::string& id) {
  // What the VM holds (one key range), to free in allocated_/vlans_ too.
  std::vector<std::pair<std::string, std::string>> held;  // kind, name
  bool found = false;
  {
    Stmt rows(*this, "SELECT kind, name FROM vm_rows WHERE vm_id = ?");
    rows.text(1, id);
    int rc;
    while ((rc = rows.step()) == SQLITE_ROW) {
      std::string kind = rows.col_text(0);
      if (kind == "vm") found = true;
      if (kind != "port" && kind != "binding") held.emplace_back(std::move(kind), rows.col_text(1));
    }
    if (rc != SQLITE_DONE) return rows.error("delete vm " + id);
  }
  if (!found) return Outcome::fail(Code::kNotFound, "vm " + id + " not found");
  Stmt s(*this, "DELETE FROM vm_rows WHERE vm_id = ?");
  s.text(1, id);
  if (auto o = s.run("delete vm " + id); !o) return o;
  // Learned bindings of the VM went with it in v3 (a foreign key cascade).
  Stmt learned(*this, "DELETE FROM learned_bindings WHERE vm_id = ?");
  learned.text(1, id);
  if (auto o = learned.run("delete learned bindings of vm " + id); !o) return o;
  for (const auto& [kind, name] : held) {
    if (kind == "vlan") {
      set_holder(Held::kVlan, name + '\n' + id, {});
      continue;
    }
    const std::string key = kind + ' ' + name;
    if (auto it = allocated_.find(key); it != allocated_.end() && it->second == id) {
      set_holder(Held::kAllocation, key, {});
    }
  }
  return {};
}

Outcome Store::count_vms(const std::string& tenant_id, std::int64_t& out) {
  Stmt s(*this, "SELECT count(*) FROM vms WHERE tenant_id = ?");
  s.text(1, tenant_id);
  if (s.step() != SQLITE_ROW) return s.error("count vms");
  out = s.col_int(0);
  return {};
}

Outcome Store::claim(const Allocation& allocation) {
  std::string key = allocation_key(allocation.kind, allocation.value);
  if (auto it = allocated_.find(key); it != allocated_.end())
    return allocation_taken(allocation.kind, allocation.value, it->second);
  Stmt s(*this, "INSERT INTO vm_rows(vm_id, kind, name) VALUES (?, ?, ?)");
  s.text(1, allocation.vm_id).text(2, kind_name(allocation.kind)).text(3, allocation.value);
  if (auto o = s.run("claim"); !o) return o;
  set_holder(Held::kAllocation, key, allocation.vm_id);
  return {};
}

Outcome Store::list_allocations(std::vector<Allocation>& out, const std::string& vm_id) {
  // Two statements: "?1 = '' OR vm_id = ?1" would scan instead of seeking
  // the VM's rows by key.
  Stmt s(*this, vm_id.empty() ? "SELECT kind, value, vm_id FROM allocations "
                                "ORDER BY vm_id, kind, value"
                              : "SELECT kind, value, vm_id FROM allocations WHERE vm_id = ? "
                                "ORDER BY vm_id, kind, value");
  if (!vm_id.empty()) s.text(1, vm_id);
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (auto kind = kind_from_name(s.col_text(0))) {
      out.push_back(Allocation{*kind, s.col_text(1), s.col_text(2)});
    }
  }
  return rc == SQLITE_DONE ? Outcome() : s.error("list allocations");
}

Outcome Store::is_allocated(Kind kind, const std::string& value, bool& out) {
  out = allocated_.count(allocation_key(kind, value)) != 0;
  return {};
}

Outcome Store::claim_vlan(const VlanClaim& claim) {
  if (const std::string owner = vlan_owner(claim.bridge, claim.vlan);
      !owner.empty() && owner != claim.tenant_id)
    return vlan_taken(claim.bridge, claim.vlan, owner);
  // A VM claims a (bridge, VLAN) once, however many of its NICs use it.
  const std::string key = vlan_prefix(claim.bridge, claim.vlan) + claim.vm_id;
  if (vlans_.count(key) != 0) return {};
  Stmt s(*this,
         "INSERT INTO vm_rows(vm_id, kind, name, tenant_id, bridge, vlan) "
         "VALUES (?, 'vlan', ?, ?, ?, ?)");
  s.text(1, claim.vm_id)
      .text(2, vlan_name(claim.bridge, claim.vlan))
      .text(3, claim.tenant_id)
      .text(4, claim.bridge)
      .int64(5, claim.vlan);
  if (auto o = s.run("claim vlan"); !o) return o;
  set_holder(Held::kVlan, key, claim.tenant_id);
  return {};
}

Outcome Store::list_vlans(std::vector<VlanClaim>& out) {
  Stmt s(*this, "SELECT bridge, vlan, tenant_id, vm_id FROM vm_vlans ORDER BY bridge, vlan, vm_id");
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(VlanClaim{s.col_text(0), static_cast<std::uint16_t>(s.col_int(1)), s.col_text(2),
                            s.col_text(3)});
  }
  return rc == SQLITE_DONE ? Outcome() : s.error("list vlans");
}

Outcome Store::insert_port(const PortRecord& p) {
  if (auto o = port_taken(p, p.vm_id); !o) return o;
  Stmt s(*this,
         "INSERT INTO vm_rows(vm_id, kind, name, bridge, vlan, mac, role, fail_mode, flags) "
         "VALUES (?, 'port', ?, ?, ?, ?, ?, ?, ?)");
  s.text(1, p.vm_id)
      .text(2, p.ifname)
      .text(3, p.bridge)
      .int64(4, p.vlan)
      .text(5, p.mac)
      .int64(6, p.role)
      .int64(7, p.fail_mode)
      .int64(8, p.flags);
  return s.run("insert port " + p.ifname);
}

Outcome Store::list_ports(std::vector<PortRecord>& out, const std::string& vm_id) {
  // Two statements: "?1 = '' OR vm_id = ?1" would scan instead of seeking
  // the VM's rows by key.
  Stmt s(*this, vm_id.empty()
                    ? "SELECT ifname, bridge, vlan, mac, vm_id, role, fail_mode, flags FROM ports "
                      "ORDER BY ifname"
                    : "SELECT ifname, bridge, vlan, mac, vm_id, role, fail_mode, flags FROM ports "
                      "WHERE vm_id = ? ORDER BY ifname");
  if (!vm_id.empty()) s.text(1, vm_id);
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(PortRecord{s.col_text(0), s.col_text(1), static_cast<std::uint16_t>(s.col_int(2)),
                             s.col_text(3), s.col_text(4), static_cast<std::uint8_t>(s.col_int(5)),
                             static_cast<std::uint8_t>(s.col_int(6)),
                             static_cast<std::uint32_t>(s.col_int(7))});
  }
  return rc == SQLITE_DONE ? Outcome() : s.error("list ports");
}

Outcome Store::upsert_binding(const BindingRecord& b) {
  if (vm_owned(b)) {
    Stmt s(*this,
           "INSERT INTO vm_rows(vm_id, kind, name, ifname, vlan, mac, ip6, state) "
           "VALUES (?, 'binding', ?, ?, ?, ?, ?, ?) ON CONFLICT(vm_id, kind, name) DO UPDATE SET "
           "state = excluded.state");
    s.text(1, b.vm_id)
        .text(2, binding_name(b))
        .text(3, b.ifname)
        .int64(4, b.vlan)
        .text(5, b.mac)
        .text(6, b.ip6)
        .text(7, b.state);
    return s.run("upsert binding");
  }
  Stmt s(*this,
         "INSERT INTO learned_bindings(ifname, vlan, mac, ip6, state, source, vm_id, expires_ns) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ifname, vlan, mac, ip6) DO UPDATE SET "
         "state = excluded.state, source = excluded.source, vm_id = excluded.vm_id, "
         "expires_ns = excluded.expires_ns");
  s.text(1, b.ifname)
      .int64(2, b.vlan)
      .text(3, b.mac)
      .text(4, b.ip6)
      .text(5, b.state)
      .text(6, b.source)
      .null_if_empty(7, b.vm_id)
      .int64(8, b.expires_ns);
  return s.run("upsert binding");
}

Outcome Store::remove_binding(const BindingRecord& b) {
  Stmt s(*this,
         "DELETE FROM learned_bindings WHERE ifname = ? AND vlan = ? AND mac = ? AND ip6 = ?");
  s.text(1, b.ifname).int64(2, b.vlan).text(3, b.mac).text(4, b.ip6);
  if (auto o = s.run("remove binding"); !o) return o;
  // A VM's static binding: by its key when the VM is named, else by name.
  Stmt v(*this, b.vm_id.empty()
                    ? "DELETE FROM vm_rows WHERE kind = 'binding' AND name = ?1"
                    : "DELETE FROM vm_rows WHERE vm_id = ?2 AND kind = 'binding' AND name = ?1");
  v.text(1, binding_name(b));
  if (!b.vm_id.empty()) v.text(2, b.vm_id);
  return v.run("remove binding");
}

Outcome Store::list_bindings(std::vector<BindingRecord>& out) {
  Stmt s(*this, std::string(kBindingColumns) + " ORDER BY ifname, vlan, mac, ip6");
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_binding(s));
  return rc == SQLITE_DONE ? Outcome() : s.error("list bindings");
}

Outcome Store::expire_bindings(std::int64_t now_ns, std::vector<BindingRecord>& expired) {
  Transaction txn(*this);
  if (!txn.begun()) return txn.begun();
  Stmt s(*this,
         "SELECT ifname, vlan, mac, ip6, state, source, coalesce(vm_id, ''), expires_ns FROM "
         "learned_bindings WHERE source = 'learned' AND expires_ns != 0 AND expires_ns <= ?");
  s.int64(1, now_ns);
  expired.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) expired.push_back(read_binding(s));
  if (rc != SQLITE_DONE) return s.error("expire bindings");
  Stmt del(*this,
           "DELETE FROM learned_bindings WHERE source = 'learned' AND expires_ns != 0 AND "
           "expires_ns <= ?");
  del.int64(1, now_ns);
  if (auto o = del.run("expire bindings"); !o) return o;
  return txn.commit();
}

Outcome Store::append_audit(const AuditEntry& e, AuditConfig config) {
  // The referenced config is the object VM's current one, looked up in SQL.
  Stmt s(*this,
         "INSERT INTO audit(at_ns, who, action, object, before, after, tenant_id, before_config, "
         "after_config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
         "CASE ?8 WHEN 1 THEN (SELECT config_id FROM vms WHERE id = ?4) END, "
         "CASE ?8 WHEN 2 THEN (SELECT config_id FROM vms WHERE id = ?4) END)");
  s.int64(1, e.at_ns)
      .text(2, e.who)
      .text(3, e.action)
      .text(4, e.object)
      .text(5, e.before)
      .text(6, e.after)
      .text(7, e.tenant_id)
      .int64(8, config == AuditConfig::kBefore  ? 1
                : config == AuditConfig::kAfter ? 2
                                                : 0);
  return s.run("append audit");
}

Outcome Store::list_audit(std::vector<AuditEntry>& out, std::int64_t after_id, int limit) {
  Stmt s(*this,
         "SELECT a.id, a.at_ns, a.who, a.action, a.object, a.before, a.after, a.tenant_id, "
         "b.config, f.config FROM audit a LEFT JOIN configs b ON b.id = a.before_config "
         "LEFT JOIN configs f ON f.id = a.after_config WHERE a.id > ? ORDER BY a.id LIMIT ?");
  s.int64(1, after_id).int64(2, limit);
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(AuditEntry{s.col_int(0), s.col_int(1), s.col_text(2), s.col_text(3),
                             s.col_text(4), s.col_text(5), s.col_text(6), s.col_text(7),
                             s.col_blob(8), s.col_blob(9)});
  }
  return rc == SQLITE_DONE ? Outcome() : s.error("list audit");
}

Outcome Store::list_creations(std::int64_t since_ns,
                              std::vector<std::pair<std::string, std::int64_t>>& out) {
  // Newest first by id, stopping at the first older entry: no index on at_ns
  // to maintain per write, and the scan reads only the window's rows.
  Stmt s(*this, "SELECT action, tenant_id, at_ns FROM audit ORDER BY id DESC");
  out.clear();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::int64_t at = s.col_int(2);
    if (at < since_ns) break;
    if (s.col_text(0) == "CreateVm") out.emplace_back(s.col_text(1), at);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s.error("list creations");
  std::reverse(out.begin(), out.end());
  return {};
}

}  // namespace v6g::store
