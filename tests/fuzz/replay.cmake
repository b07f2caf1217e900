# replay.cmake — ctest helper: runs one libFuzzer binary over every reproducer in DIR
# (each file is executed once; any sanitizer report or crash fails the test).
#   cmake -DFUZZER=path/to/fuzz_x -DDIR=tests/fuzz/regressions/fuzz_x -P replay.cmake
file(GLOB inputs "${DIR}/*")
if(NOT inputs)
  # nothing recorded for this target yet: still prove the binary starts and runs one input
  execute_process(COMMAND ${FUZZER} -runs=1 RESULT_VARIABLE rc)
else()
  list(LENGTH inputs n)
  message(STATUS "replaying ${n} reproducer(s) from ${DIR}")
  execute_process(COMMAND ${FUZZER} ${inputs} RESULT_VARIABLE rc)
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed on reproducers in ${DIR} (exit ${rc})")
endif()
