// Persistent manager state in SQLite (WAL): VMs, allocations (addresses, MACs,
// taps, per-tenant VLANs per bridge), bindings and the audit log of every
// config change. The store knows nothing about protobuf: VM configs arrive as
// opaque proto bytes, stored once (table configs) and referenced by the VM row
// and its audit rows; readers render them (JSON) when they need text.
//
// One connection, one writer: the API server serialises mutations through
// Transaction, so "validate -> allocate -> persist -> program host -> commit"
// either lands completely or not at all.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace v6g::store {

class Stmt;

// kStorageFull: the disk (or quota) under the state dir is full;
// kStorageUnavailable: the state dir can't be written (read-only mount,
// permissions, I/O error). Conditions of the host, not bugs.
enum class Code : std::uint8_t {
  kOk,
  kNotFound,
  kConflict,
  kFailed,
  kStorageFull,
  kStorageUnavailable
};

// Control-plane error with a class the API maps onto Connect codes
// (kNotFound -> not_found, kConflict -> already_exists, kFailed -> internal,
// kStorageFull -> resource_exhausted, kStorageUnavailable -> unavailable).
class [[nodiscard]] Outcome {
 public:
  Outcome() = default;
  static Outcome fail(Code code, std::string message) { return Outcome(code, std::move(message)); }
  bool ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Outcome(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

struct VmRecord {
  std::string id;
  std::string tenant_id;
  std::string config;  // serialized vmprovisioner.v1.VmConfig
  std::string state;   // "created", ...
  std::int64_t created_ns = 0;
  std::int64_t updated_ns = 0;
  bool operator==(const VmRecord&) const = default;
};

// Host-unique resources a VM holds. ip6/mac/tap are unique host-wide.
enum class Kind : std::uint8_t { kIp6, kMac, kTap };
std::string_view kind_name(Kind kind);

struct Allocation {
  Kind kind = Kind::kIp6;
  std::string value;  // canonical text: RFC 5952 address, lower-case MAC, ifname
  std::string vm_id;
  bool operator==(const Allocation&) const = default;
};

// A VLAN on a bridge belongs to exactly one tenant; the tenant's VMs share it.
// Claims are per VM, so the VLAN frees itself when the tenant's last VM goes.
struct VlanClaim {
  std::string bridge;
  std::uint16_t vlan = 0;
  std::string tenant_id;
  std::string vm_id;
  bool operator==(const VlanClaim&) const = default;
};

// A VM's bridge port as the host programs it (tap on a tenant bridge).
struct PortRecord {
  std::string ifname;  // tap
  std::string bridge;
  std::uint16_t vlan = 0;
  std::string mac;  // expected source MAC
  std::string vm_id;
  std::uint8_t role = 0;       // V6G_ROLE_*
  std::uint8_t fail_mode = 0;  // V6G_FAIL_*
  std::uint32_t flags = 0;     // V6G_PORT_F_*
  bool operator==(const PortRecord&) const = default;
};

struct BindingRecord {
  std::string ifname;
  std::uint16_t vlan = 0;
  std::string mac;
  std::string ip6;
  std::string state = "reachable";  // reachable | tentative | stale
  std::string source = "static";    // static (from config) | learned (ND/DHCPv6)
  std::string vm_id;                // empty for learned bindings of unknown VMs
  std::int64_t expires_ns = 0;      // 0 = never (static)
  bool operator==(const BindingRecord&) const = default;
};

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t at_ns = 0;
  std::string who;        // "uid:1000" (unix peer) or "token:<id>" (TCP)
  std::string action;     // "CreateVm", "DeleteVm", ...
  std::string object;     // VM id
  std::string before;     // free text (JSON) or empty
  std::string after;      // free text (JSON) or empty
  std::string tenant_id;  // the object's tenant (seeds the allocation rate limiter)
  // Read back only: the VM config this entry references (see AuditConfig),
  // serialized vmprovisioner.v1.VmConfig, or empty.
  std::string before_config;
  std::string after_config;
};

// Which state of the audited VM's stored config an audit row references
// (instead of a copy): a create's result, or what a delete removed.
enum class AuditConfig : std::uint8_t { kNone, kBefore, kAfter };

class Store {
 public:
  static constexpr int kSchemaVersion = 5;

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens (creating or migrating) the database; ":memory:" for tests.
  static Outcome open(const std::string& path, std::unique_ptr<Store>& out);

  // Scoped write transaction (BEGIN IMMEDIATE); rolls back unless committed.
  class Transaction {
   public:
    explicit Transaction(Store& store);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    const Outcome& begun() const { return begun_; }
    Outcome commit();

   private:
    Store& store_;
    Outcome begun_;
    bool open_ = false;
    std::size_t undo_mark_ = 0;  // Store::undo_ entries made before it began
  };

  // Nested scope inside a Transaction (SAVEPOINT): rolls back to where it
  // began unless released, leaving the rest of the transaction intact.
  class Savepoint {
   public:
    explicit Savepoint(Store& store);
    ~Savepoint();
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    const Outcome& begun() const { return begun_; }
    Outcome release();

   private:
    Store& store_;
    Outcome begun_;
    bool open_ = false;
    std::size_t undo_mark_ = 0;  // Store::undo_ entries made before it began
    bool outermost_ = false;     // began outside a transaction: RELEASE commits
  };

  int schema_version();
  bool wal_mode();
  // WAL checkpoints run by the background connection so far (0 without WAL).
  std::uint64_t background_checkpoints();

  Outcome insert_vm(const VmRecord& vm);
  // A VM with everything it holds, as insert_vm, claim, claim_vlan,
  // insert_port and upsert_binding one after another would store it (same
  // checks, same errors; a duplicate VM id is kConflict "vm <id> already
  // exists"), but the VM's rows go in with one INSERT: one statement instead
  // of one per row. Every item belongs to `vm` (their vm_id is not read).
  // Writes nothing if any check fails.
  Outcome insert_vm_with(const VmRecord& vm, std::span<const Allocation> allocations,
                         std::span<const VlanClaim> vlans, std::span<const PortRecord> ports,
                         std::span<const BindingRecord> bindings);
  Outcome get_vm(const std::string& id, VmRecord& out);
  Outcome list_vms(std::vector<VmRecord>& out, const std::string& tenant_id = {});
  // Deletes the VM with its allocations and static bindings (cascade).
  Outcome delete_vm(const std::string& id);
  Outcome count_vms(const std::string& tenant_id, std::int64_t& out);

  // kConflict (with the holder in the message) if the value is taken
  // anywhere on the host (checked in memory, see allocated_).
  Outcome claim(const Allocation& allocation);
  Outcome list_allocations(std::vector<Allocation>& out, const std::string& vm_id = {});
  Outcome is_allocated(Kind kind, const std::string& value, bool& out);

  // kConflict if another tenant already uses (bridge, vlan).
  Outcome claim_vlan(const VlanClaim& claim);
  Outcome list_vlans(std::vector<VlanClaim>& out);

  Outcome insert_port(const PortRecord& port);
  Outcome list_ports(std::vector<PortRecord>& out, const std::string& vm_id = {});

  Outcome upsert_binding(const BindingRecord& binding);
  Outcome remove_binding(const BindingRecord& binding);
  Outcome list_bindings(std::vector<BindingRecord>& out);
  // Removes learned bindings whose expiry is at or before now_ns; returns them.
  Outcome expire_bindings(std::int64_t now_ns, std::vector<BindingRecord>& expired);

  // With kBefore/kAfter the row references the config VM `entry.object`
  // holds now (append before deleting the VM), so a config is stored once.
  Outcome append_audit(const AuditEntry& entry, AuditConfig config = AuditConfig::kNone);
  Outcome list_audit(std::vector<AuditEntry>& out, std::int64_t after_id = 0, int limit = 1000);
  // (tenant, at_ns) of every CreateVm at or after since_ns, oldest first
  // (whether or not the VM still exists): what the rate limiter charged.
  Outcome list_creations(std::int64_t since_ns,
                         std::vector<std::pair<std::string, std::int64_t>>& out);

 private:
  friend class Stmt;
  explicit Store(sqlite3* db);
  Outcome exec(const char* sql);
  // exec() through a cached prepared statement (BEGIN, COMMIT, SAVEPOINT...:
  // run per request, so parsing them each time would show in the profile).
  Outcome exec_cached(const std::string& sql);
  Outcome migrate();
  // Prepared once per SQL text and reused: preparing costs more than running
  // most of these statements.
  sqlite3_stmt* prepare(const std::string& sql, int& rc);

  // WAL checkpoints off the committing thread (file databases only): a
  // second connection copies committed frames into the database file in the
  // background once the WAL holds kCheckpointFrames; the committer checkpoints
  // itself only if the WAL reaches kInlineCheckpointFrames (a long burst the
  // background pass never caught up with: the WAL restarts from its start
  // only after a checkpoint that copied every frame).
  // Same bound on the WAL as the autocheckpoint this replaces (8192 frames).
  static constexpr int kCheckpointFrames = 2048;
  static constexpr int kInlineCheckpointFrames = 8192;
  class Checkpointer;
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int frames);

  // Host-wide uniqueness, as committed plus what the open transaction
  // changed: allocated_ maps "kind value" -> holding VM; vlans_ maps
  // "bridge vlan\nvm" -> tenant for every VM's (bridge, VLAN) claim, ordered
  // so the claims of one (bridge, VLAN) are adjacent (they all share one
  // tenant). undo_ lists the changes to either (map, key, previous value or
  // "" if there was none) so a ROLLBACK or ROLLBACK TO puts the maps back
  // exactly as SQLite puts the rows back.
  enum class Held : std::uint8_t { kAllocation, kVlan };
  struct Undo {
    Held map;
    std::string key;
    std::string holder;
  };
  Outcome load_held();
  void set_holder(Held map, const std::string& key, std::string holder);  // "" = free
  std::string vlan_owner(const std::string& bridge, std::uint16_t vlan) const;
  Outcome port_taken(const PortRecord& p, const std::string& vm_id) const;
  void undo_to(std::size_t mark);    // rolled back: put back what came after mark
  void committed(std::size_t mark);  // committed: forget the undo after mark

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  std::unordered_map<std::string, std::string> allocated_;
  std::map<std::string, std::string> vlans_;
  std::vector<Undo> undo_;
  std::unique_ptr<Checkpointer> checkpointer_;
  int checkpoint_mark_ = 0;  // WAL frames when the last background pass was asked for
};

}  // namespace v6g::store
