#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace v6g::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Store> open() {
    std::unique_ptr<Store> s;
    auto o = Store::open(path_, s);
    EXPECT_TRUE(o.ok()) << o.message();
    return s;
  }
  static VmRecord vm(std::string id, std::string tenant) {
    return VmRecord{id,
                    tenant,
                    std::string("\x0a\x03"
                                "abc",
                                5),
                    "created",
                    1,
                    2};
  }
  static AuditEntry audit(std::int64_t at_ns, std::string action, std::string object,
                          std::string tenant = "t1") {
    AuditEntry e;
    e.at_ns = at_ns;
    e.who = "uid:0";
    e.action = std::move(action);
    e.object = std::move(object);
    e.tenant_id = std::move(tenant);
    return e;
  }
  std::string dir_, path_;
};

TEST_F(StoreTest, FreshDatabaseIsWalAtCurrentSchemaVersion) {
  auto s = open();
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));
}

// Writes a database of an older schema with the sqlite3 shell (SQL on its
// stdin); false without the shell.
bool write_with_shell(const std::string& path, const std::string& sql) {
  const std::string cmd = "sqlite3 " + path + " >/dev/null 2>&1";
  FILE* p = popen(cmd.c_str(), "w");
  if (p == nullptr) return false;
  fputs(sql.c_str(), p);
  return pclose(p) == 0;
}

// Page size of the database at path (sqlite3 shell), or "" without the shell.
std::string page_size_of(const std::string& path) {
  const std::string cmd = "sqlite3 " + path + " 'PRAGMA page_size' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  char line[32] = {};
  const bool read = std::fgets(line, sizeof line, p) != nullptr;
  if (pclose(p) != 0 || !read) return {};
  std::string out = line;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST_F(StoreTest, NewDatabasesGet4KiBPagesAndOld1KiBOnesKeepWorking) {
  {
    auto s = open();
    ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
  }
  const std::string fresh = page_size_of(path_);
  if (fresh.empty()) GTEST_SKIP() << "sqlite3 shell missing";
  // A ~1 KB VM config fits a 4 KiB leaf; 1 KiB pages needed an overflow page.
  EXPECT_EQ(fresh, "4096");

  // A database created with 1 KiB pages (as v2 did) keeps them: WAL mode
  // can't change the page size, and the store works on it unchanged.
  const std::string old = dir_ + "/old.db";
  const std::string make = "sqlite3 " + old +
                           " 'PRAGMA page_size=1024; PRAGMA journal_mode=WAL; CREATE TABLE t(x); "
                           "DROP TABLE t;' >/dev/null 2>&1";
  ASSERT_EQ(std::system(make.c_str()), 0);
  std::unique_ptr<Store> s;
  auto o = Store::open(old, s);
  ASSERT_TRUE(o.ok()) << o.message();
  ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
  VmRecord back;
  ASSERT_TRUE(s->get_vm("vm-1", back).ok());
  EXPECT_EQ(back.config, vm("vm-1", "t1").config);
  s.reset();
  EXPECT_EQ(page_size_of(old), "1024");
}

TEST_F(StoreTest, RefusesNewerSchema) {
  { auto s = open(); }
  {
    // Simulate a database written by a future v6guardd.
    std::string cmd = "sqlite3 " + path_ + " 'PRAGMA user_version=99' 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "sqlite3 shell missing";
  }
  std::unique_ptr<Store> s;
  auto o = Store::open(path_, s);
  EXPECT_FALSE(o.ok());
  EXPECT_NE(o.message().find("newer"), std::string::npos) << o.message();
}

// Checkpoints run on the store's background connection, not in the
// committing thread: after enough commits to pass the background threshold
// the pass has run, the WAL stays bounded (the committer's own fallback
// checkpoint lets it start over), and everything committed survives a
// reopen.
TEST_F(StoreTest, WalIsCheckpointedInTheBackgroundAndStaysBounded) {
  const std::string config(3000, 'c');  // a frame or more per commit
  int committed = 0;
  {
    auto s = open();
    ASSERT_EQ(s->background_checkpoints(), 0u);
    for (; committed < 6000; ++committed) {
      Store::Transaction txn(*s);
      ASSERT_TRUE(txn.begun().ok());
      VmRecord r = vm("vm-" + std::to_string(committed), "t1");
      r.config = config;
      ASSERT_TRUE(s->insert_vm(r).ok());
      ASSERT_TRUE(txn.commit().ok());
    }
    for (int i = 0; i < 200 && s->background_checkpoints() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GT(s->background_checkpoints(), 0u);
    // 8192 frames of 4 KiB (+ headers) is where the committer steps in.
    EXPECT_LT(std::filesystem::file_size(path_ + "-wal"), 8400u * 4120u);
  }
  auto s = open();
  std::vector<VmRecord> all;
  ASSERT_TRUE(s->list_vms(all).ok());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(committed));
}

TEST_F(StoreTest, RestartRecoversEveryTable) {
  {
    auto s = open();
    Store::Transaction txn(*s);
    ASSERT_TRUE(txn.begun().ok());
    ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
    ASSERT_TRUE(s->claim({Kind::kIp6, "2600:beef:1000::10", "vm-1"}).ok());
    ASSERT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:01", "vm-1"}).ok());
    ASSERT_TRUE(s->claim({Kind::kTap, "tap-vm-1", "vm-1"}).ok());
    ASSERT_TRUE(s->claim_vlan({"br-t1", 100, "t1", "vm-1"}).ok());
    ASSERT_TRUE(s->upsert_binding({"tap-vm-1", 100, "02:00:00:00:00:01", "2600:beef:1000::10",
                                   "reachable", "static", "vm-1", 0})
                    .ok());
    ASSERT_TRUE(
        s->insert_port({"tap-vm-1", "br-t1", 100, "02:00:00:00:00:01", "vm-1", 1, 0, 3}).ok());
    ASSERT_TRUE(s->append_audit(audit(5, "CreateVm", "vm-1"), AuditConfig::kAfter).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  auto s = open();
  VmRecord got;
  ASSERT_TRUE(s->get_vm("vm-1", got).ok());
  EXPECT_EQ(got.tenant_id, "t1");
  EXPECT_EQ(got.config, std::string("\x0a\x03"
                                    "abc",
                                    5));  // binary-safe
  std::vector<Allocation> allocs;
  ASSERT_TRUE(s->list_allocations(allocs).ok());
  EXPECT_EQ(allocs.size(), 3u);
  std::vector<VlanClaim> vlans;
  ASSERT_TRUE(s->list_vlans(vlans).ok());
  ASSERT_EQ(vlans.size(), 1u);
  EXPECT_EQ(vlans[0].vlan, 100);
  std::vector<BindingRecord> bindings;
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0].vm_id, "vm-1");
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports, "vm-1").ok());
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0], (PortRecord{"tap-vm-1", "br-t1", 100, "02:00:00:00:00:01", "vm-1", 1, 0, 3}));
  std::vector<AuditEntry> audit;
  ASSERT_TRUE(s->list_audit(audit).ok());
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].who, "uid:0");
}

TEST_F(StoreTest, ConfigIsStoredOnceAndReferencedByTheAudit) {
  auto s = open();
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
    ASSERT_TRUE(s->append_audit(audit(5, "CreateVm", "vm-1"), AuditConfig::kAfter).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->append_audit(audit(6, "DeleteVm", "vm-1"), AuditConfig::kBefore).ok());
    ASSERT_TRUE(s->delete_vm("vm-1").ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  const std::string config = vm("vm-1", "t1").config;
  std::vector<AuditEntry> entries;
  ASSERT_TRUE(s->list_audit(entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].after_config, config);
  EXPECT_EQ(entries[0].before_config, "");
  EXPECT_EQ(entries[1].before_config, config);  // outlives the VM row
  EXPECT_EQ(entries[1].tenant_id, "t1");
  s.reset();
  const std::string cmd = "sqlite3 " + path_ + " 'select count(*) from configs' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[32] = {};
  const bool read = fgets(line, sizeof line, p) != nullptr;
  if (pclose(p) != 0 || !read) GTEST_SKIP() << "sqlite3 shell missing";
  EXPECT_EQ(std::string(line), "1\n");
}

TEST_F(StoreTest, CreationsSinceATimeAreListedOldestFirst) {
  auto s = open();
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->append_audit(audit(10, "CreateVm", "vm-1", "t1")).ok());
    ASSERT_TRUE(s->append_audit(audit(20, "CreateVm", "vm-2", "t2")).ok());
    ASSERT_TRUE(s->append_audit(audit(30, "DeleteVm", "vm-1", "t1")).ok());
    ASSERT_TRUE(s->append_audit(audit(40, "CreateVm", "vm-3", "t1")).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  std::vector<std::pair<std::string, std::int64_t>> got;
  ASSERT_TRUE(s->list_creations(15, got).ok());
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::int64_t>>{{"t2", 20}, {"t1", 40}}));
}

// A state.db written by the v1 schema (config proto + JSON in vms, JSON in
// the audit): opened, it is migrated in place and every VM is intact.
TEST_F(StoreTest, MigratesAVersion1Database) {
  const std::string v1 = R"sql(
CREATE TABLE vms (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, config BLOB NOT NULL,
  config_json TEXT NOT NULL, state TEXT NOT NULL, created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX vms_tenant ON vms(tenant_id);
CREATE TABLE allocations (kind TEXT NOT NULL CHECK (kind IN ('ip6', 'mac', 'tap')),
  value TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (kind, value)) WITHOUT ROWID;
CREATE INDEX allocations_vm ON allocations(vm_id);
CREATE TABLE vm_vlans (bridge TEXT NOT NULL, vlan INTEGER NOT NULL CHECK (vlan BETWEEN 1 AND 4094),
  tenant_id TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (bridge, vlan, vm_id)) WITHOUT ROWID;
CREATE TABLE ports (ifname TEXT PRIMARY KEY, bridge TEXT NOT NULL, vlan INTEGER NOT NULL,
  mac TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  role INTEGER NOT NULL, fail_mode INTEGER NOT NULL, flags INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE bindings (ifname TEXT NOT NULL, vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  ip6 TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL CHECK (source IN ('static', 'learned')),
  vm_id TEXT REFERENCES vms(id) ON DELETE CASCADE, expires_ns INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ifname, vlan, mac, ip6)) WITHOUT ROWID;
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL,
  who TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, before TEXT NOT NULL,
  after TEXT NOT NULL);
INSERT INTO vms VALUES ('vm-b', 't2', X'0a0162', '{"b":1}', 'created', 1, 2);
INSERT INTO vms VALUES ('vm-a', 't1', X'0a0161', '{"a":1}', 'created', 3, 4);
INSERT INTO allocations VALUES ('tap', 'tap-a', 'vm-a');
INSERT INTO allocations VALUES ('tap', 'tap-b', 'vm-b');
INSERT INTO ports VALUES ('tap-a', 'br-t1', 100, '02:00:00:00:00:01', 'vm-a', 1, 0, 0);
INSERT INTO audit(at_ns, who, action, object, before, after)
  VALUES (3, 'uid:0', 'CreateVm', 'vm-a', '', '{"a":1}');
PRAGMA user_version = 1;
)sql";
  if (!write_with_shell(path_, v1)) GTEST_SKIP() << "sqlite3 shell missing";

  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);  // v1 -> v2 -> v3 in one go
  VmRecord a, b;
  ASSERT_TRUE(s->get_vm("vm-a", a).ok());
  ASSERT_TRUE(s->get_vm("vm-b", b).ok());
  EXPECT_EQ(a.config,
            "\x0a\x01"
            "a");
  EXPECT_EQ(b.config,
            "\x0a\x01"
            "b");
  EXPECT_EQ(a.tenant_id, "t1");
  EXPECT_EQ(a.created_ns, 3);
  std::vector<AuditEntry> entries;
  ASSERT_TRUE(s->list_audit(entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].after, R"({"a":1})");  // v1 rows keep their JSON
  EXPECT_EQ(entries[0].tenant_id, "t1");      // filled from the VM
  // References survived the rebuild of vms: deleting a VM still cascades.
  ASSERT_TRUE(s->delete_vm("vm-a").ok());
  std::vector<Allocation> allocations;
  ASSERT_TRUE(s->list_allocations(allocations).ok());
  ASSERT_EQ(allocations.size(), 1u);
  EXPECT_EQ(allocations[0].vm_id, "vm-b");
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports).ok());
  EXPECT_TRUE(ports.empty());
  // New rows go in after the migrated configs.
  ASSERT_TRUE(s->insert_vm(vm("vm-c", "t1")).ok());
  VmRecord c;
  ASSERT_TRUE(s->get_vm("vm-c", c).ok());
  EXPECT_EQ(c.config, vm("vm-c", "t1").config);
}

// A state.db written by the v2 schema (allocations keyed by (kind, value),
// vms_tenant): migrated to v3 in place, its allocations re-keyed by VM and
// still unique host-wide (now checked in memory), the cascade intact.
TEST_F(StoreTest, MigratesAVersion2Database) {
  const std::string v2 = R"sql(
PRAGMA page_size=4096;
PRAGMA journal_mode=WAL;
CREATE TABLE configs (id INTEGER PRIMARY KEY, config BLOB NOT NULL);
CREATE TABLE vms (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, config_id INTEGER NOT NULL,
  state TEXT NOT NULL, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX vms_tenant ON vms(tenant_id);
CREATE TABLE allocations (kind TEXT NOT NULL CHECK (kind IN ('ip6', 'mac', 'tap')),
  value TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (kind, value)) WITHOUT ROWID;
CREATE INDEX allocations_vm ON allocations(vm_id);
CREATE TABLE vm_vlans (bridge TEXT NOT NULL, vlan INTEGER NOT NULL CHECK (vlan BETWEEN 1 AND 4094),
  tenant_id TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (bridge, vlan, vm_id)) WITHOUT ROWID;
CREATE TABLE ports (ifname TEXT PRIMARY KEY, bridge TEXT NOT NULL, vlan INTEGER NOT NULL,
  mac TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  role INTEGER NOT NULL, fail_mode INTEGER NOT NULL, flags INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE bindings (ifname TEXT NOT NULL, vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  ip6 TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL CHECK (source IN ('static', 'learned')),
  vm_id TEXT REFERENCES vms(id) ON DELETE CASCADE, expires_ns INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ifname, vlan, mac, ip6)) WITHOUT ROWID;
CREATE TABLE audit (id INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, who TEXT NOT NULL,
  action TEXT NOT NULL, object TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
  tenant_id TEXT NOT NULL DEFAULT '', before_config INTEGER, after_config INTEGER);
INSERT INTO configs VALUES (1, X'0a0161'), (2, X'0a0162');
INSERT INTO vms VALUES ('vm-a', 't1', 1, 'created', 3, 4), ('vm-b', 't2', 2, 'created', 1, 2);
INSERT INTO allocations VALUES ('tap', 'tap-a', 'vm-a'), ('mac', '02:00:00:00:00:0a', 'vm-a'),
  ('ip6', '2600:beef:1000::a', 'vm-a'), ('tap', 'tap-b', 'vm-b');
INSERT INTO audit(at_ns, who, action, object, before, after, tenant_id, after_config)
  VALUES (3, 'uid:0', 'CreateVm', 'vm-a', '', '', 't1', 1);
PRAGMA user_version = 2;
)sql";
  if (!write_with_shell(path_, v2)) GTEST_SKIP() << "sqlite3 shell missing";

  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  std::vector<Allocation> held;
  ASSERT_TRUE(s->list_allocations(held, "vm-a").ok());
  EXPECT_EQ(held, (std::vector<Allocation>{{Kind::kIp6, "2600:beef:1000::a", "vm-a"},
                                           {Kind::kMac, "02:00:00:00:00:0a", "vm-a"},
                                           {Kind::kTap, "tap-a", "vm-a"}}));
  // Migrated values are still taken, by their holder.
  ASSERT_TRUE(s->insert_vm(vm("vm-c", "t1")).ok());
  auto o = s->claim({Kind::kMac, "02:00:00:00:00:0a", "vm-c"});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_NE(o.message().find("vm-a"), std::string::npos) << o.message();
  EXPECT_EQ(s->claim({Kind::kTap, "tap-b", "vm-c"}).code(), Code::kConflict);
  std::vector<AuditEntry> entries;
  ASSERT_TRUE(s->list_audit(entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].after_config,
            "\x0a\x01"
            "a");
  // The cascade still frees what the VM held, and the value can be taken.
  ASSERT_TRUE(s->delete_vm("vm-a").ok());
  ASSERT_TRUE(s->list_allocations(held).ok());
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].vm_id, "vm-b");
  EXPECT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:0a", "vm-c"}).ok());
  // The index nothing used is gone; the old allocations index went with its table.
  const std::string indexes = "sqlite3 " + path_ +
                              " \"SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND " +
                              "name IN ('vms_tenant', 'allocations_vm')\"";
  FILE* q = popen(indexes.c_str(), "r");
  ASSERT_NE(q, nullptr);
  char line[16] = {};
  ASSERT_NE(std::fgets(line, sizeof line, q), nullptr);
  pclose(q);
  EXPECT_EQ(std::string(line), "0\n");
}

// The output of the sqlite3 shell running `sql` on path ("" and false
// without the shell).
bool shell(const std::string& path, const std::string& sql, std::string& out) {
  const std::string cmd = "sqlite3 " + path + " \"" + sql + "\" 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  out.clear();
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  return pclose(p) == 0;
}

// A state.db written by the v3 schema (a VM's rows in five tables): migrated
// to v4 in place, in one transaction - every row moves into vm_rows (static
// bindings too; learned ones into learned_bindings), the old tables go, views
// under their names read the same rows, and the in-memory holders (addresses,
// MACs, taps, VLAN owners) are loaded from the moved rows.
TEST_F(StoreTest, MigratesAVersion3Database) {
  const std::string v3 = R"sql(
PRAGMA page_size=4096;
PRAGMA journal_mode=WAL;
CREATE TABLE configs (id INTEGER PRIMARY KEY, config BLOB NOT NULL);
CREATE TABLE vms (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, config_id INTEGER NOT NULL,
  state TEXT NOT NULL, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE allocations (kind TEXT NOT NULL CHECK (kind IN ('ip6', 'mac', 'tap')),
  value TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (vm_id, kind, value)) WITHOUT ROWID;
CREATE TABLE vm_vlans (bridge TEXT NOT NULL, vlan INTEGER NOT NULL CHECK (vlan BETWEEN 1 AND 4094),
  tenant_id TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  PRIMARY KEY (bridge, vlan, vm_id)) WITHOUT ROWID;
CREATE TABLE ports (ifname TEXT PRIMARY KEY, bridge TEXT NOT NULL, vlan INTEGER NOT NULL,
  mac TEXT NOT NULL, vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  role INTEGER NOT NULL, fail_mode INTEGER NOT NULL, flags INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE bindings (ifname TEXT NOT NULL, vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  ip6 TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL CHECK (source IN ('static', 'learned')),
  vm_id TEXT REFERENCES vms(id) ON DELETE CASCADE, expires_ns INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ifname, vlan, mac, ip6)) WITHOUT ROWID;
CREATE TABLE audit (id INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, who TEXT NOT NULL,
  action TEXT NOT NULL, object TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
  tenant_id TEXT NOT NULL DEFAULT '', before_config INTEGER, after_config INTEGER);
INSERT INTO configs VALUES (1, X'0a0161'), (2, X'0a0162');
INSERT INTO vms VALUES ('vm-a', 't1', 1, 'created', 3, 4), ('vm-b', 't2', 2, 'running', 1, 2);
INSERT INTO allocations VALUES ('tap', 'tap-a', 'vm-a'), ('mac', '02:00:00:00:00:0a', 'vm-a'),
  ('ip6', '2600:beef:1000::a', 'vm-a'), ('tap', 'tap-b', 'vm-b');
INSERT INTO vm_vlans VALUES ('br-t1', 100, 't1', 'vm-a'), ('br-t2', 200, 't2', 'vm-b');
INSERT INTO ports VALUES ('tap-a', 'br-t1', 100, '02:00:00:00:00:0a', 'vm-a', 1, 0, 7),
  ('tap-b', 'br-t2', 200, '02:00:00:00:00:0b', 'vm-b', 1, 1, 0);
INSERT INTO bindings VALUES
  ('tap-a', 100, '02:00:00:00:00:0a', '2600:beef:1000::a', 'reachable', 'static', 'vm-a', 0),
  ('tap-a', 100, '02:00:00:00:00:0a', '2600:beef:1000::99', 'stale', 'learned', 'vm-a', 50),
  ('tap-x', 7, '02:00:00:00:00:0c', '2600:beef:1000::c', 'reachable', 'learned', NULL, 60);
INSERT INTO audit(at_ns, who, action, object, before, after, tenant_id, after_config)
  VALUES (3, 'uid:0', 'CreateVm', 'vm-a', '', '', 't1', 1);
PRAGMA user_version = 3;
)sql";
  if (!write_with_shell(path_, v3)) GTEST_SKIP() << "sqlite3 shell missing";

  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);  // v3 -> v4 -> v5 in one go
  VmRecord a;
  ASSERT_TRUE(s->get_vm("vm-a", a).ok());
  EXPECT_EQ(a, (VmRecord{"vm-a", "t1",
                         "\x0a\x01"
                         "a",
                         "created", 3, 4}));
  std::vector<VmRecord> all;
  ASSERT_TRUE(s->list_vms(all, "t2").ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, "running");
  std::vector<Allocation> held;
  ASSERT_TRUE(s->list_allocations(held, "vm-a").ok());
  EXPECT_EQ(held, (std::vector<Allocation>{{Kind::kIp6, "2600:beef:1000::a", "vm-a"},
                                           {Kind::kMac, "02:00:00:00:00:0a", "vm-a"},
                                           {Kind::kTap, "tap-a", "vm-a"}}));
  std::vector<VlanClaim> vlans;
  ASSERT_TRUE(s->list_vlans(vlans).ok());
  EXPECT_EQ(vlans,
            (std::vector<VlanClaim>{{"br-t1", 100, "t1", "vm-a"}, {"br-t2", 200, "t2", "vm-b"}}));
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports).ok());
  EXPECT_EQ(ports, (std::vector<PortRecord>{
                       {"tap-a", "br-t1", 100, "02:00:00:00:00:0a", "vm-a", 1, 0, 7},
                       {"tap-b", "br-t2", 200, "02:00:00:00:00:0b", "vm-b", 1, 1, 0}}));
  std::vector<BindingRecord> bindings;
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  EXPECT_EQ(
      bindings,
      (std::vector<BindingRecord>{
          {"tap-a", 100, "02:00:00:00:00:0a", "2600:beef:1000::99", "stale", "learned", "vm-a", 50},
          {"tap-a", 100, "02:00:00:00:00:0a", "2600:beef:1000::a", "reachable", "static", "vm-a",
           0},
          {"tap-x", 7, "02:00:00:00:00:0c", "2600:beef:1000::c", "reachable", "learned", "", 60}}));
  // Still held by their VMs: values and the VLAN owners.
  ASSERT_TRUE(s->insert_vm(vm("vm-c", "t2")).ok());
  auto o = s->claim({Kind::kIp6, "2600:beef:1000::a", "vm-c"});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_NE(o.message().find("vm-a"), std::string::npos) << o.message();
  o = s->claim_vlan({"br-t1", 100, "t2", "vm-c"});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_NE(o.message().find("t1"), std::string::npos) << o.message();
  // Delete takes every row of the VM (learned bindings of it too) and frees
  // its values and its VLAN.
  ASSERT_TRUE(s->delete_vm("vm-a").ok());
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0].ifname, "tap-x");
  EXPECT_TRUE(s->claim({Kind::kIp6, "2600:beef:1000::a", "vm-c"}).ok());
  EXPECT_TRUE(s->claim_vlan({"br-t1", 100, "t2", "vm-c"}).ok());
  std::vector<AuditEntry> entries;
  ASSERT_TRUE(s->list_audit(entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].after_config,
            "\x0a\x01"
            "a");
  s.reset();
  // The old tables are gone; their names are views over the new rows.
  std::string out;
  ASSERT_TRUE(shell(path_,
                    "SELECT type || ':' || name FROM sqlite_schema WHERE name IN ('vms', "
                    "'allocations', 'vm_vlans', 'ports', 'bindings') ORDER BY name",
                    out));
  EXPECT_EQ(out, "view:allocations\nview:bindings\nview:ports\nview:vm_vlans\nview:vms\n");
  ASSERT_TRUE(shell(path_, "SELECT count(*) FROM allocations WHERE vm_id = 'vm-c'", out));
  EXPECT_EQ(out, "1\n");
}

// A state.db written by the v4 schema (kind CHECK as an IN list): vm_rows is
// rebuilt in place with the v5 CHECK, its rows and the views as they were.
TEST_F(StoreTest, MigratesAVersion4Database) {
  const std::string v4 = R"sql(
PRAGMA page_size=4096;
PRAGMA journal_mode=WAL;
CREATE TABLE configs (id INTEGER PRIMARY KEY, config BLOB NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, who TEXT NOT NULL,
  action TEXT NOT NULL, object TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
  tenant_id TEXT NOT NULL DEFAULT '', before_config INTEGER, after_config INTEGER);
CREATE TABLE vm_rows (vm_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('vm', 'ip6', 'mac', 'tap', 'vlan', 'port', 'binding')),
  name TEXT NOT NULL, tenant_id TEXT, config_id INTEGER, state TEXT, created_ns INTEGER,
  updated_ns INTEGER, bridge TEXT, vlan INTEGER, mac TEXT, role INTEGER, fail_mode INTEGER,
  flags INTEGER, ifname TEXT, ip6 TEXT, PRIMARY KEY (vm_id, kind, name)) WITHOUT ROWID;
CREATE TABLE learned_bindings (ifname TEXT NOT NULL, vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  ip6 TEXT NOT NULL, state TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('static', 'learned')), vm_id TEXT,
  expires_ns INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (ifname, vlan, mac, ip6)) WITHOUT ROWID;
CREATE INDEX learned_bindings_vm ON learned_bindings(vm_id) WHERE vm_id IS NOT NULL;
CREATE VIEW vms AS SELECT vm_id AS id, tenant_id, config_id, state, created_ns, updated_ns
  FROM vm_rows WHERE kind = 'vm';
CREATE VIEW allocations AS
  SELECT kind, name AS value, vm_id FROM vm_rows WHERE kind IN ('ip6', 'mac', 'tap');
CREATE VIEW vm_vlans AS SELECT bridge, vlan, tenant_id, vm_id FROM vm_rows WHERE kind = 'vlan';
CREATE VIEW ports AS SELECT name AS ifname, bridge, vlan, mac, vm_id, role, fail_mode, flags
  FROM vm_rows WHERE kind = 'port';
CREATE VIEW bindings AS
  SELECT ifname, vlan, mac, ip6, state, 'static' AS source, vm_id, 0 AS expires_ns
  FROM vm_rows WHERE kind = 'binding'
  UNION ALL
  SELECT ifname, vlan, mac, ip6, state, source, vm_id, expires_ns FROM learned_bindings;
INSERT INTO configs VALUES (1, X'0a0161');
INSERT INTO vm_rows(vm_id, kind, name, tenant_id, config_id, state, created_ns, updated_ns)
  VALUES ('vm-a', 'vm', '', 't1', 1, 'running', 3, 4);
INSERT INTO vm_rows(vm_id, kind, name) VALUES ('vm-a', 'tap', 'tap-a'),
  ('vm-a', 'ip6', '2600:beef:1000::a');
INSERT INTO vm_rows(vm_id, kind, name, tenant_id, bridge, vlan)
  VALUES ('vm-a', 'vlan', 'br-t1 100', 't1', 'br-t1', 100);
INSERT INTO vm_rows(vm_id, kind, name, bridge, vlan, mac, role, fail_mode, flags)
  VALUES ('vm-a', 'port', 'tap-a', 'br-t1', 100, '02:00:00:00:00:0a', 1, 0, 7);
INSERT INTO learned_bindings VALUES
  ('tap-a', 100, '02:00:00:00:00:0a', '2600:beef:1000::99', 'stale', 'learned', 'vm-a', 50);
PRAGMA user_version = 4;
)sql";
  if (!write_with_shell(path_, v4)) GTEST_SKIP() << "sqlite3 shell missing";

  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->schema_version(), 5);
  VmRecord a;
  ASSERT_TRUE(s->get_vm("vm-a", a).ok());
  EXPECT_EQ(a, (VmRecord{"vm-a", "t1",
                         "\x0a\x01"
                         "a",
                         "running", 3, 4}));
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports).ok());
  EXPECT_EQ(
      ports,
      (std::vector<PortRecord>{{"tap-a", "br-t1", 100, "02:00:00:00:00:0a", "vm-a", 1, 0, 7}}));
  std::vector<BindingRecord> bindings;
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0].source, "learned");
  // Held values and VLAN owners are loaded from the moved rows.
  ASSERT_TRUE(s->insert_vm(vm("vm-c", "t2")).ok());
  EXPECT_EQ(s->claim({Kind::kTap, "tap-a", "vm-c"}).code(), Code::kConflict);
  EXPECT_EQ(s->claim_vlan({"br-t1", 100, "t2", "vm-c"}).code(), Code::kConflict);
  s.reset();
  // The new CHECK, still enforced; the views are back; no copy is left.
  std::string out;
  ASSERT_TRUE(
      shell(path_, "SELECT instr(sql, 'kind IN') FROM sqlite_schema WHERE name = 'vm_rows'", out));
  EXPECT_EQ(out, "0\n");
  ASSERT_TRUE(shell(
      path_, "SELECT count(*) FROM sqlite_schema WHERE type = 'view' OR name = 'vm_rows_v4'", out));
  EXPECT_EQ(out, "5\n");
  EXPECT_FALSE(
      shell(path_, "INSERT INTO vm_rows(vm_id, kind, name) VALUES ('x', 'bogus', '')", out));
  EXPECT_TRUE(shell(path_, "SELECT count(*) FROM vm_rows WHERE kind = 'bogus'", out));
  EXPECT_EQ(out, "0\n");
}

// VLAN owners are in memory too (v4): a claim rolled back with its savepoint
// or transaction leaves the VLAN free, and a rolled-back delete keeps it owned.
TEST_F(StoreTest, RollbacksPutVlanOwnersBack) {
  auto s = open();
  for (auto [id, t] : {std::pair{"a1", "ta"}, {"b1", "tb"}}) {
    ASSERT_TRUE(s->insert_vm(vm(id, t)).ok());
  }
  {
    Store::Transaction txn(*s);
    {
      Store::Savepoint sp(*s);
      ASSERT_TRUE(s->claim_vlan({"br0", 100, "ta", "a1"}).ok());
    }  // rolled back
    EXPECT_TRUE(s->claim_vlan({"br0", 100, "tb", "b1"}).ok());
  }  // rolled back too
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "ta", "a1"}).ok());
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "ta", "a1"}).ok());  // again: no second row
  std::vector<VlanClaim> vlans;
  ASSERT_TRUE(s->list_vlans(vlans).ok());
  EXPECT_EQ(vlans.size(), 1u);
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->delete_vm("a1").ok());
    EXPECT_TRUE(s->claim_vlan({"br0", 100, "tb", "b1"}).ok());  // free inside the transaction
  }
  EXPECT_EQ(s->claim_vlan({"br0", 100, "tb", "b1"}).code(), Code::kConflict);
  s.reset();
  s = open();  // and loaded back from the rows
  EXPECT_EQ(s->claim_vlan({"br0", 100, "tb", "b1"}).code(), Code::kConflict);
}

// Uniqueness is checked in memory (v3): a value claimed in a rolled-back
// savepoint or transaction is free again, one freed by a rolled-back delete
// is still held, and what a committed delete freed can be claimed.
TEST_F(StoreTest, RollbacksPutClaimsBackAsTheRowsWere) {
  auto s = open();
  ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
  ASSERT_TRUE(s->insert_vm(vm("vm-2", "t1")).ok());
  ASSERT_TRUE(s->claim({Kind::kTap, "tap-1", "vm-1"}).ok());
  {
    Store::Transaction txn(*s);
    {
      Store::Savepoint sp(*s);
      ASSERT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:02", "vm-1"}).ok());
    }  // rolled back
    ASSERT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:02", "vm-2"}).ok());
    {
      Store::Savepoint sp(*s);
      ASSERT_TRUE(s->claim({Kind::kIp6, "2600:beef:1000::2", "vm-2"}).ok());
      ASSERT_TRUE(sp.release().ok());
    }
    ASSERT_TRUE(txn.commit().ok());
  }
  bool taken = false;
  ASSERT_TRUE(s->is_allocated(Kind::kIp6, "2600:beef:1000::2", taken).ok());
  EXPECT_TRUE(taken);
  auto o = s->claim({Kind::kMac, "02:00:00:00:00:02", "vm-1"});
  EXPECT_NE(o.message().find("vm-2"), std::string::npos) << o.message();
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->delete_vm("vm-1").ok());
    ASSERT_TRUE(s->is_allocated(Kind::kTap, "tap-1", taken).ok());
    EXPECT_FALSE(taken);  // inside the transaction the delete is visible
  }                       // rolled back: vm-1 holds tap-1 again
  EXPECT_EQ(s->claim({Kind::kTap, "tap-1", "vm-2"}).code(), Code::kConflict);
  ASSERT_TRUE(s->delete_vm("vm-1").ok());
  EXPECT_TRUE(s->claim({Kind::kTap, "tap-1", "vm-2"}).ok());
  // And a reopened store sees the same holders.
  s.reset();
  s = open();
  o = s->claim({Kind::kTap, "tap-1", "vm-3"});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_NE(o.message().find("vm-2"), std::string::npos) << o.message();
}

// insert_vm_with stores what insert_vm + claim + claim_vlan + insert_port +
// upsert_binding store, with their checks and errors, and writes nothing when
// one fails; a duplicate VM id is reported before a conflict of its values.
TEST_F(StoreTest, VmWithItsRowsInOneInsertChecksLikeOneByOne) {
  auto s = open();
  const std::vector<Allocation> a1{{Kind::kTap, "tap-1", "vm-1"},
                                   {Kind::kMac, "02:00:00:00:00:01", "vm-1"},
                                   {Kind::kIp6, "2600::1", "vm-1"}};
  const std::vector<VlanClaim> v1{{"br0", 100, "ta", "vm-1"}, {"br0", 100, "ta", "vm-1"}};
  const std::vector<PortRecord> p1{{"tap-1", "br0", 100, "02:00:00:00:00:01", "vm-1", 1, 0, 5}};
  const BindingRecord b1{"tap-1", 100, "02:00:00:00:00:01", "2600::1", "reachable", "static",
                         "vm-1",  0};
  const std::vector<BindingRecord> bs1{b1, b1};
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->insert_vm_with(vm("vm-1", "ta"), a1, v1, p1, bs1).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  VmRecord got;
  ASSERT_TRUE(s->get_vm("vm-1", got).ok());
  EXPECT_EQ(got, vm("vm-1", "ta"));
  std::vector<Allocation> allocs;
  ASSERT_TRUE(s->list_allocations(allocs, "vm-1").ok());
  EXPECT_EQ(allocs.size(), 3u);
  std::vector<VlanClaim> vlans;
  ASSERT_TRUE(s->list_vlans(vlans).ok());
  EXPECT_EQ(vlans, (std::vector<VlanClaim>{{"br0", 100, "ta", "vm-1"}}));  // claimed once
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports, "vm-1").ok());
  EXPECT_EQ(ports, p1);
  std::vector<BindingRecord> bindings;
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  EXPECT_EQ(bindings, (std::vector<BindingRecord>{b1}));  // once, as upserts

  // The same VM again: the duplicate id, not its taken values.
  auto o = s->insert_vm_with(vm("vm-1", "ta"), a1, {}, {}, {});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_EQ(o.message(), "vm vm-1 already exists");
  // Another VM: the value's holder; another tenant's VLAN; its own repeat.
  o = s->insert_vm_with(vm("vm-2", "tb"), {{{Kind::kMac, "02:00:00:00:00:01", "vm-2"}}}, {}, {},
                        {});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_EQ(o.message(), "mac 02:00:00:00:00:01 is already allocated to vm-1");
  o = s->insert_vm_with(vm("vm-2", "tb"), {{{Kind::kTap, "tap-2", "vm-2"}}},
                        {{{"br0", 100, "tb", "vm-2"}}}, {}, {});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_EQ(o.message(), "vlan 100 on bridge br0 belongs to tenant ta");
  o = s->insert_vm_with(vm("vm-2", "tb"),
                        {{{Kind::kTap, "tap-2", "vm-2"}, {Kind::kTap, "tap-2", "vm-2"}}}, {}, {},
                        {});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_EQ(o.message(), "tap tap-2 is already allocated to vm-2");
  // None of the refused ones left a row or a holder.
  EXPECT_EQ(s->get_vm("vm-2", got).code(), Code::kNotFound);
  bool taken = true;
  ASSERT_TRUE(s->is_allocated(Kind::kTap, "tap-2", taken).ok());
  EXPECT_FALSE(taken);
  EXPECT_TRUE(s->claim_vlan({"br1", 7, "tb", "vm-x"}).ok());
  // Rolled back with its transaction: rows and holders.
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->insert_vm_with(vm("vm-3", "tc"), {{{Kind::kTap, "tap-3", "vm-3"}}},
                                  {{{"br2", 5, "tc", "vm-3"}}}, {}, {})
                    .ok());
  }
  ASSERT_TRUE(s->is_allocated(Kind::kTap, "tap-3", taken).ok());
  EXPECT_FALSE(taken);
  EXPECT_TRUE(s->claim_vlan({"br2", 5, "td", "vm-4"}).ok());
  // Deleted: everything freed.
  ASSERT_TRUE(s->delete_vm("vm-1").ok());
  EXPECT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:01", "vm-4"}).ok());
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "td", "vm-4"}).ok());
}

TEST_F(StoreTest, UncommittedTransactionLeavesNothing) {
  auto s = open();
  {
    Store::Transaction txn(*s);
    ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
    ASSERT_TRUE(s->claim({Kind::kMac, "02:00:00:00:00:01", "vm-1"}).ok());
  }  // no commit
  VmRecord got;
  EXPECT_EQ(s->get_vm("vm-1", got).code(), Code::kNotFound);
  bool taken = true;
  ASSERT_TRUE(s->is_allocated(Kind::kMac, "02:00:00:00:00:01", taken).ok());
  EXPECT_FALSE(taken);
}

TEST_F(StoreTest, DuplicatesAreConflictsNamingTheHolder) {
  auto s = open();
  ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
  ASSERT_TRUE(s->insert_vm(vm("vm-2", "t2")).ok());
  EXPECT_EQ(s->insert_vm(vm("vm-1", "t1")).code(), Code::kConflict);
  ASSERT_TRUE(s->claim({Kind::kIp6, "2600:beef:1000::10", "vm-1"}).ok());
  auto o = s->claim({Kind::kIp6, "2600:beef:1000::10", "vm-2"});
  EXPECT_EQ(o.code(), Code::kConflict);
  EXPECT_NE(o.message().find("vm-1"), std::string::npos) << o.message();
}

TEST_F(StoreTest, VlanBelongsToOneTenantPerBridge) {
  auto s = open();
  for (auto [id, t] : {std::pair{"a1", "ta"}, {"a2", "ta"}, {"b1", "tb"}}) {
    ASSERT_TRUE(s->insert_vm(vm(id, t)).ok());
  }
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "ta", "a1"}).ok());
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "ta", "a2"}).ok());  // same tenant shares it
  EXPECT_EQ(s->claim_vlan({"br0", 100, "tb", "b1"}).code(), Code::kConflict);
  EXPECT_TRUE(s->claim_vlan({"br1", 100, "tb", "b1"}).ok());  // other bridge is fine
  // The VLAN frees itself once the tenant's last VM is gone.
  ASSERT_TRUE(s->delete_vm("a1").ok());
  EXPECT_EQ(s->claim_vlan({"br0", 100, "tb", "b1"}).code(), Code::kConflict);
  ASSERT_TRUE(s->delete_vm("a2").ok());
  EXPECT_TRUE(s->claim_vlan({"br0", 100, "tb", "b1"}).ok());
}

TEST_F(StoreTest, DeleteCascadesAndReportsMissing) {
  auto s = open();
  ASSERT_TRUE(s->insert_vm(vm("vm-1", "t1")).ok());
  ASSERT_TRUE(s->claim({Kind::kTap, "tap0", "vm-1"}).ok());
  ASSERT_TRUE(s->insert_port({"tap0", "br0", 0, "02:00:00:00:00:01", "vm-1", 1, 0, 0}).ok());
  ASSERT_TRUE(s->upsert_binding(
                   {"tap0", 0, "02:00:00:00:00:01", "2600::1", "reachable", "static", "vm-1", 0})
                  .ok());
  ASSERT_TRUE(s->delete_vm("vm-1").ok());
  std::vector<Allocation> allocs;
  ASSERT_TRUE(s->list_allocations(allocs).ok());
  EXPECT_TRUE(allocs.empty());
  std::vector<BindingRecord> bindings;
  ASSERT_TRUE(s->list_bindings(bindings).ok());
  EXPECT_TRUE(bindings.empty());
  std::vector<PortRecord> ports;
  ASSERT_TRUE(s->list_ports(ports).ok());
  EXPECT_TRUE(ports.empty());
  EXPECT_EQ(s->delete_vm("vm-1").code(), Code::kNotFound);
}

TEST_F(StoreTest, LearnedBindingsExpireStaticOnesDoNot) {
  auto s = open();
  ASSERT_TRUE(s->upsert_binding(
                   {"tap0", 0, "02:00:00:00:00:01", "2600::1", "reachable", "learned", "", 100})
                  .ok());
  ASSERT_TRUE(s->upsert_binding(
                   {"tap0", 0, "02:00:00:00:00:01", "2600::2", "reachable", "learned", "", 300})
                  .ok());
  // Refresh moves the expiry (upsert on the same key).
  ASSERT_TRUE(s->upsert_binding(
                   {"tap0", 0, "02:00:00:00:00:01", "2600::1", "reachable", "learned", "", 400})
                  .ok());
  std::vector<BindingRecord> expired;
  ASSERT_TRUE(s->expire_bindings(350, expired).ok());
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].ip6, "2600::2");
  std::vector<BindingRecord> left;
  ASSERT_TRUE(s->list_bindings(left).ok());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].expires_ns, 400);
}

TEST_F(StoreTest, AuditPagesById) {
  auto s = open();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->append_audit(audit(i, "CreateVm", "vm")).ok());
  }
  std::vector<AuditEntry> page;
  ASSERT_TRUE(s->list_audit(page, 2, 2).ok());
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, 3);
  EXPECT_EQ(page[1].id, 4);
}

}  // namespace
}  // namespace v6g::store
