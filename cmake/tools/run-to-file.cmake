# Runs KF_EXE with the |-separated arguments KF_ARGS, its standard output to KF_OUTPUT (the man page
# and the shell completions are generated this way by the built binary, after linking). Fails
# when the program fails or prints nothing.
string(REPLACE "|" ";" args "${KF_ARGS}")
execute_process(COMMAND ${KF_EXE} ${args} OUTPUT_FILE "${KF_OUTPUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${KF_OUTPUT}.tmp")
  message(FATAL_ERROR "${KF_EXE} ${KF_ARGS}: exit ${rc}")
endif()
file(SIZE "${KF_OUTPUT}.tmp" size)
if(size EQUAL 0)
  file(REMOVE "${KF_OUTPUT}.tmp")
  message(FATAL_ERROR "${KF_EXE} ${KF_ARGS}: no output")
endif()
file(RENAME "${KF_OUTPUT}.tmp" "${KF_OUTPUT}")
