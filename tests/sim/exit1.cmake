# A scenario whose expectation cannot hold: exit 1, the failure named, the
# replay command printed.
execute_process(COMMAND ${SIM} run ${SCENARIO} --seed 5
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exited ${rc}, want 1:\n${out}\n${err}")
endif()
if(NOT out MATCHES "FAILED: exactly_once")
  message(FATAL_ERROR "the failed expectation is not named:\n${out}")
endif()
if(NOT out MATCHES "replay: outpost-sim run [^\n]*fail-scenario.json --seed 5 --agents 3")
  message(FATAL_ERROR "no replay command:\n${out}")
endif()
