# redumd --version prints "redumd <version>" and exits 0.
execute_process(COMMAND ${REDUMD} --version OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "redumd --version exited ${rc}")
endif()
if(NOT out MATCHES "^redumd ${EXPECT}")
  message(FATAL_ERROR "unexpected --version output: ${out}")
endif()
