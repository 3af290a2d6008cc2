#!/bin/sh
# The systemd unit as meson generates it (issue 9): a dedicated user, a
# StateDirectory, the hardening settings, Delegate=yes, ExecStart naming
# the installed binary; `systemd-analyze security --offline` rates it at
# most 2.0 ("OK"; UNSAFE starts at 9.0); `systemd-analyze verify` finds
# nothing wrong with it. Skipped (77) where systemd-analyze is missing or
# too old for --offline (systemd < 250).
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_BUILD_ROOT:?TV_BUILD_ROOT is not set}"
command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze not installed (Debian: systemd)"
U="$TV_BUILD_ROOT/deploy/tickervisor@.service"
[ -f "$U" ] || fail "meson did not generate $U"
cd "$T"

for want in "User=tickervisor" "StateDirectory=tickervisor" "ConfigurationDirectory=tickervisor" \
	"NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateTmp=yes" "PrivateNetwork=yes" \
	"CapabilityBoundingSet=" "Delegate=yes" "KillSignal=SIGTERM" "RestartPreventExitStatus=1 2 64"; do
	grep -qx "$want" "$U" || fail "the unit lacks '$want'"
done
grep -Eq "^ExecStart=/.*/tickervisor run /etc/tickervisor/%i.ini$" "$U" || fail "ExecStart: $(grep ExecStart "$U")"

cp "$U" "tickervisor@test.service"
if ! systemd-analyze security --offline=true "$T/tickervisor@test.service" >security.out 2>&1; then
	grep -q "offline" security.out && skip "systemd-analyze has no --offline: $(head -n 2 security.out)"
	fail "systemd-analyze security: $(tail security.out)"
fi
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' security.out)
[ -n "$score" ] || fail "no exposure level in: $(tail -n 3 security.out)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score above 2.0: $(grep '✗' security.out)"
echo "systemd-analyze security: $score"

# verify: the unit's syntax and settings, with ExecStart pointing at the
# built binary (the installed one need not exist here).
sed "s|^ExecStart=[^ ]*|ExecStart=$TV_SUPERVISOR|" "$U" >"tickervisor@test.service"
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/tickervisor@test.service" >verify.out 2>&1 ||
	fail "systemd-analyze verify: $(cat verify.out)"
if grep -v "^$" verify.out | grep -qv "Failed to .*bus\|Transport endpoint\|tickervisor.*\(User\|Group\)"; then
	fail "systemd-analyze verify complains: $(cat verify.out)"
fi
echo "ok"
