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
