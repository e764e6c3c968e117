# report.html in headless Chromium (issue #16): a small failing run whose
# scenario description holds markup; the page must render with no console
# message (the page has no script and a CSP of default-src 'none', so any
# markup that escaped would log a violation), its charts and expectation
# rows in the DOM, the markup as text, and a screenshot kept in OUT.
# No Chromium is a failure, not a skip: ci/setup-deps installs it.
find_program(CHROMIUM NAMES chromium chromium-browser)
if(NOT CHROMIUM)
  message(FATAL_ERROR "chromium not found: run ci/setup-deps (it installs Debian's chromium, "
                      "pinned in ci/deps.txt)")
endif()
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${SIM} run ${SCENARIO} --seed 5 --trace full --out ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "the run exited ${rc}, want 1 (its expectation fails):\n${out}\n${err}")
endif()
if(NOT EXISTS ${OUT}/report.html)
  message(FATAL_ERROR "no report.html beside report.json in ${OUT}")
endif()
file(READ ${OUT}/report.html html)
string(TOLOWER "${html}" lower)
foreach(bad "<script" "<img" "http:" "https:")
  string(FIND "${lower}" "${bad}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "report.html holds \"${bad}\": markup from the scenario was not escaped, "
                        "or the page fetches something")
  endif()
endforeach()
string(FIND "${html}" "&lt;script&gt;document.body.setAttribute(&#39;data-pwned&#39;" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the scenario's description is not in report.html as escaped text")
endif()

set(profile ${OUT}/chromium-profile) # private: tests may run in parallel
set(flags --headless --no-sandbox --disable-gpu --user-data-dir=${profile}
          --enable-logging=stderr --v=0)
execute_process(COMMAND ${CHROMIUM} ${flags} --dump-dom file://${OUT}/report.html
                RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE log TIMEOUT 150)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chromium --dump-dom exited ${rc}:\n${log}")
endif()
file(WRITE ${OUT}/report.dom.html "${dom}")
file(WRITE ${OUT}/chromium.log "${log}")
string(REGEX MATCHALL "[^\n]*CONSOLE[^\n]*" console "${log}")
if(console)
  message(FATAL_ERROR "console messages while rendering report.html:\n${console}")
endif()
macro(count what min)
  string(REGEX MATCHALL "${what}" hits "${dom}")
  list(LENGTH hits n)
  if(n LESS ${min})
    message(FATAL_ERROR "the rendered DOM holds ${n} of \"${what}\", want at least ${min} "
                        "(${OUT}/report.dom.html)")
  endif()
endmacro()
count("<svg class=\"chart\"" 4)
count("<polyline class=\"s c0\" points=\"[0-9]" 4)
count("<tr class=\"exp pass\">" 1)
count("<tr class=\"exp fail\">" 1)
count("id=\"story\"" 1)
count("FAULT partition hits this agent" 1)
count("&lt;script&gt;" 1)
string(FIND "${dom}" "data-pwned=" at)
string(FIND "${dom}" "<script" at2)
if(NOT at EQUAL -1 OR NOT at2 EQUAL -1)
  message(FATAL_ERROR "the scenario's markup became part of the page (${OUT}/report.dom.html)")
endif()

file(REMOVE ${OUT}/report.png)
execute_process(COMMAND ${CHROMIUM} ${flags} --screenshot=${OUT}/report.png --window-size=1100,2600
                        file://${OUT}/report.html
                RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE log TIMEOUT 150)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT}/report.png)
  message(FATAL_ERROR "chromium --screenshot exited ${rc}:\n${log}")
endif()
file(SIZE ${OUT}/report.png size)
if(size LESS 20000)
  message(FATAL_ERROR "the screenshot is suspiciously small (${size} bytes): ${OUT}/report.png")
endif()
file(REMOVE_RECURSE ${profile})
message(STATUS "report.html renders: charts, expectations, story; screenshot ${OUT}/report.png")
