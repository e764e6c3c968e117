# Bad scenario files and bad arguments exit with 2 (not 1, not a crash).
set(cases
  "run|${SCENARIO}"
  "run|/nonexistent/scenario.json"
  "run|${SMOKE}|--seed|abc"
  "run|${SMOKE}|--agents|0"
  "run|${SMOKE}|--trace|loud"
  "run|${SMOKE}|--bogus|1"
  "run|${SMOKE}|--real|0"
  "run|${SMOKE}|--real|17"
  "run|${SMOKE}|--real|2|--agents|3"
  "run|${SMOKE}|--real|2|--trace|full"
  "run|${SMOKE}|--real|2|--real-seconds|4"
  "run|${SMOKE}|--real-seconds|30"
  "run|${SMOKE}|--agent-bin|/bin/true"
  "run|${SMOKE}|--real|2|--agent-bin|/nonexistent/outpost-agent"
  "walk|${SMOKE}")
foreach(c IN LISTS cases)
  string(REPLACE "|" " " shown "${c}")
  string(REPLACE "|" ";" args "${c}")
  execute_process(COMMAND ${SIM} ${args} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "outpost-sim ${shown} exited ${rc}, want 2")
  endif()
endforeach()
