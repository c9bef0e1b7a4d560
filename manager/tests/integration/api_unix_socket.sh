#!/bin/bash
# The API stack as separate processes: curl and v6guardctl over the unix
# socket against v6g-api-testserver (Connect server + VmManager + SQLite),
# including SO_PEERCRED refusal of another uid, a host failure that must leave
# nothing behind, and recovery after kill -9.
set -u
BUILD=${V6G_BUILD_DIR:-build}
SERVER=$BUILD/manager/api/v6g-api-testserver
CTL=$BUILD/manager/cli/v6guardctl
for tool in curl jq sqlite3 setpriv; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 4; }
done
[ -x "$SERVER" ] && [ -x "$CTL" ] || { echo "SKIP: build $SERVER and $CTL first"; exit 4; }

DIR=$(mktemp -d /tmp/v6g-$RANDOM-api.XXXXXX)
chmod 755 "$DIR"
SOCK=$DIR/api.sock
DB=$DIR/state.db
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

fails=0
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { # check "description" 'shell condition'
	if eval "$2"; then ok "$1"; else fail "$1"; fi
}

start() {
	"$SERVER" --socket "$SOCK" --db "$DB" "$@" >>"$DIR/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && grep -q listening "$DIR/server.log" && return 0; sleep 0.05; done
	echo "server did not start"; cat "$DIR/server.log"; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; : >"$DIR/server.log"; }

# post PROCEDURE BODY [CONTENT-TYPE]: sets $STATUS and $body.
post() {
	STATUS=$(curl -sS --unix-socket "$SOCK" -o "$DIR/body" -w '%{http_code}' \
		-H "Content-Type: ${3:-application/json}" --data-binary "$2" "http://localhost/$1")
	body=$(<"$DIR/body")
}

vm_json() { # id tap mac address
	echo "{\"vm_id\":\"$1\",\"tenant_id\":\"acme\",\"bridge\":\"br-acme\",\"vlan\":100,
	  \"interfaces\":[{\"tap\":\"$2\",\"mac\":\"$3\",\"address\":\"$4\"}]}"
}
CREATE=vmprovisioner.v1.VmService/CreateVm
LIST=vmprovisioner.v1.VmService/ListVms

start
post $CREATE "$(vm_json vm-a tap-a 02:00:00:00:00:0a 2600:beef:1000::a)"
check "CreateVm over curl --unix-socket -> 200" '[ "$STATUS" = 200 ]'
check "response carries vm_id" '[ "$(jq -r .vm_id <<<"$body")" = vm-a ]'

post $CREATE "$(vm_json vm-a2 tap-a2 02:00:00:00:00:0b 2600:beef:1000::a)"
check "same address twice -> 409 already_exists" '[ "$STATUS" = 409 ] && [ "$(jq -r .code <<<"$body")" = already_exists ]'
check "conflict names the holder" 'grep -q "vm-a" <<<"$(jq -r .message <<<"$body")"'

post $CREATE "$(vm_json vm-x tap-x 02:00:00:00:00:0c 2600:BEEF:1000:mgmt::100)"
check "bad address -> 400 invalid_argument with field path" '[ "$STATUS" = 400 ] && [ "$(jq -r '\''.details[0].debug.field'\'' <<<"$body")" = "interfaces[0].address" ]'
check "detail type is google.protobuf.Struct" '[ "$(jq -r '\''.details[0].type'\'' <<<"$body")" = google.protobuf.Struct ]'

hdrs=$(curl -sS --unix-socket "$SOCK" -D - -o /dev/null -H 'Content-Type: text/plain' \
	--data-binary 'x' "http://localhost/$LIST")
check "text/plain -> 415 with Accept-Post" 'grep -q "^HTTP/1.1 415" <<<"$hdrs" && grep -qi "^Accept-Post: application/json" <<<"$hdrs"'

head -c 2000000 /dev/zero | tr '\0' 'x' >"$DIR/big"
post $CREATE "@$DIR/big"
check "2 MB body -> 413 resource_exhausted" '[ "$STATUS" = 413 ] && [ "$(jq -r .code <<<"$body")" = resource_exhausted ]'

touch "$DIR/nobody" && chmod 666 "$DIR/nobody"
status=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -sS --unix-socket "$SOCK" \
	-o "$DIR/nobody" -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' \
	"http://localhost/$LIST")
check "uid 65534 refused by SO_PEERCRED -> 403 permission_denied" '[ "$status" = 403 ] && [ "$(jq -r .code "$DIR/nobody")" = permission_denied ]'

# A host failure while programming must leave nothing behind.
stop
start --fail-tap tap-b
post $CREATE "$(vm_json vm-b tap-b 02:00:00:00:00:0d 2600:beef:1000::b)"
check "host failure -> 503 unavailable" '[ "$STATUS" = 503 ]'
check "host failure undid the partial programming" 'grep -q "unprogram tap-b" "$DIR/server.log"'
post $LIST '{}'
check "no vm-b after the failure" '[ "$(jq '\''[.vms[].vm_id] | index("vm-b")'\'' <<<"$body")" = null ]'
check "no leaked allocation rows" '[ "$(sqlite3 "$DB" "select count(*) from allocations where vm_id='\''vm-b'\''")" = 0 ]'

stop
start
post $CREATE "$(vm_json vm-b tap-b 02:00:00:00:00:0d 2600:beef:1000::b)"
check "vm-b created once the host is healthy (its address was not leaked)" '[ "$STATUS" = 200 ]'

# Crash: kill -9, restart, everything is back and reprogrammed.
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=; : >"$DIR/server.log"
start
check "restart reprograms both VMs" 'grep -q "program tap-a " "$DIR/server.log" && grep -q "program tap-b " "$DIR/server.log"'
out=$("$CTL" --socket "$SOCK" vm list)
check "v6guardctl vm list after restart shows both" 'grep -q "^vm-a " <<<"$out" && grep -q "^vm-b " <<<"$out"'
out=$("$CTL" --socket "$SOCK" --json bindings)
check "v6guardctl --json bindings has both static bindings" '[ "$(jq '\''.bindings | length'\'' <<<"$out")" = 2 ]'
out=$("$CTL" --socket "$SOCK" ports)
check "v6guardctl ports lists both taps on their bridge" '[ "$(grep -c " br-acme " <<<"$out")" = 2 ]'
out=$("$CTL" --socket "$SOCK" status)
check "v6guardctl status counts the VMs" 'grep -q "^vms: 2$" <<<"$out"'
check "v6guardctl vm delete vm-a" '"$CTL" --socket "$SOCK" vm delete vm-a'
err=$("$CTL" --socket "$SOCK" vm get vm-a 2>&1); rc=$?
check "v6guardctl vm get of a deleted VM -> exit 1 not_found" '[ $rc = 1 ] && grep -q "not_found" <<<"$err"'
audit=$(sqlite3 "$DB" "select group_concat(action || ':' || object || ':' || who, ' ') from audit")
check "audit log has exactly the three changes, with the peer uid" '[ "$audit" = "CreateVm:vm-a:uid:$(id -u) CreateVm:vm-b:uid:$(id -u) DeleteVm:vm-a:uid:$(id -u)" ]'
check "database is WAL at schema version 5" '[ "$(sqlite3 "$DB" '\''pragma journal_mode'\'')" = wal ] && [ "$(sqlite3 "$DB" '\''pragma user_version'\'')" = 5 ]'

[ $fails = 0 ] && echo "PASS" || echo "FAIL: $fails"
exit $((fails > 0))

