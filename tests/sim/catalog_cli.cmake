# ctest sim_catalog (issue #16): outpost-sim list/show/check, outputs and
# exit codes (0 ok, 1 a check failed, 2 usage). -DSIM=binary -DSCN=scenarios
# -DFIX=tests/sim/catalog (files with one fault each, and good.json).

# run(<exit code> <regex the output must match> args...): stdout and stderr together
function(run want_rc want_re)
  execute_process(COMMAND ${SIM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(all "${out}${err}")
  if(NOT rc EQUAL want_rc)
    message(FATAL_ERROR "outpost-sim ${ARGN}: exit ${rc}, expected ${want_rc}\n${all}")
  endif()
  if(NOT all MATCHES "${want_re}")
    message(FATAL_ERROR "outpost-sim ${ARGN}: output does not match /${want_re}/:\n${all}")
  endif()
  set(last "${all}" PARENT_SCOPE)
endfunction()

# list: every scenario, with its claims, fleet and duration
run(0 "tampered-permissions +10 +30 min +PRIV-1 +On five hosts" list --dir ${SCN})
run(0 "smoke +5 +5 min +DEL-1" list --dir ${SCN})
# --claim: only those claiming it (case-insensitive)
run(0 "planted-probe" list --dir ${SCN} --claim priv-1)
if(last MATCHES "smoke")
  message(FATAL_ERROR "list --claim PRIV-1 lists smoke:\n${last}")
endif()
run(2 "NO-LOSS is not a claim ID" list --dir ${SCN} --claim NO-LOSS)
# --claims: every ID, those without a scenario marked
run(0 "NET-1 +NO SCENARIO" list --dir ${SCN} --claims)
run(0 "PRIV-1 +planted-probe, tampered-permissions" list --dir ${SCN} --claims)
# a directory with invalid files: listed what parses, says which do not, exit 1
run(1 "catalog-good .*A valid file beside the bad ones\\.\n" list --dir ${FIX})
run(1 "malformed\\.json:4: \\(root\\): not valid JSON" list --dir ${FIX})

# show: by name or by file, the whole scenario in words
run(0 "events \\(1\\):\n  00:10:00  tamper_permissions: on 5 agents" show tampered-permissions --dir ${SCN})
run(0 "at least 15 permission-drift reports \\(min_drift_events\\)" show ${SCN}/tampered-permissions.json)
run(0 "PRIV-1 +The service runs privileged" show ${FIX}/good.json)
run(2 "no scenario named no-such-scenario" show no-such-scenario --dir ${SCN})
run(1 "malformed\\.json:4:" show ${FIX}/malformed.json)

# check: every shipped scenario is valid; each fault named with its line
run(0 "checked [0-9]+ scenario files .*: all valid" check ${SCN})
run(1 "unknown-claim\\.json:2: claims\\[1\\]: \"NO-LOSS\" is not a claim ID" check ${FIX}/unknown-claim.json)
run(1 "malformed\\.json:4: \\(root\\): not valid JSON" check ${FIX}/malformed.json)
run(1 "bad-value\\.json:8: events\\[1\\]\\.agents: must be a count" check ${FIX}/bad-value.json)
run(1 "duplicate-key\\.json:6: expect\\.drain_s: duplicate key" check ${FIX}/duplicate-key.json)
run(0 "all valid" check ${FIX}/good.json)
run(1 "5 scenario files.*4 with errors" check ${FIX})
run(1 "cannot open" check ${FIX}/no-such-file.json)

# usage errors
run(2 "usage" check)
run(2 "usage" check --dir ${SCN})
run(2 "usage" list --bogus)
run(2 "usage" show)
run(2 "usage" list --claim)
