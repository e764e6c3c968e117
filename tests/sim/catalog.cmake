# issue #16: the catalog (outpost-sim list/show/check), the claim IDs, and
# scenarios run at another fleet size than their file's. Included from
# tests/sim/CMakeLists.txt inside if(TARGET outpost-sim), with _scn and _out set.

# Expectations with absolute counts scale with --agents (sim_scenario_scale,
# docs/scenarios.md "Fleet size"): event-caused counts (drift reports,
# alerts) with the agents the events hit, fleet-wide volumes (shed records,
# the request peak) with the fleet. Each of these failed at these sizes before.
foreach(run tampered-permissions:3 planted-probe:4 snapshot-restore:2 cloud-outage:30 crash-storm:6)
  string(REPLACE ":" ";" _r ${run})
  list(GET _r 0 _name)
  list(GET _r 1 _n)
  add_test(NAME sim_scaled_${_name}
           COMMAND outpost-sim run ${_scn}/${_name}.json --seed 1 --agents ${_n})
endforeach()

# The catalog's commands, outputs and exit codes (tests/sim/catalog/ holds a
# file with each kind of fault, with its line number checked).
add_test(NAME sim_catalog
         COMMAND ${CMAKE_COMMAND} -DSIM=$<TARGET_FILE:outpost-sim> -DSCN=${_scn}
                 -DFIX=${CMAKE_CURRENT_SOURCE_DIR}/catalog
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/catalog_cli.cmake)

# Every shipped scenario is valid and names only claim IDs of docs/claims.txt.
add_test(NAME sim_check_scenarios COMMAND outpost-sim check ${_scn})

# docs/claims.txt is the ID list of ../shared/CLAIMS.md (when that file is
# there: a clean clone has no ../shared, and the test says it skipped).
add_test(NAME sim_claims_match
         COMMAND ${CMAKE_COMMAND} -DCLAIMS_MD=${PROJECT_SOURCE_DIR}/../shared/CLAIMS.md
                 -DCLAIMS_TXT=${PROJECT_SOURCE_DIR}/docs/claims.txt
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/claims_match.cmake)
set_tests_properties(sim_claims_match PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED:")
