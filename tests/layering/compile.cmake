# cmake -DCXX=... -DVIEW=... -DPUBLIC=... -DSOURCE=... [-DEXPECT_MISSING=header] -P compile.cmake
# Compiles SOURCE (syntax only) with one layer's include view. With EXPECT_MISSING, the
# compile must fail on exactly that header not being found.
execute_process(
  COMMAND "${CXX}" -std=c++17 -fsyntax-only -I "${VIEW}" -I "${PUBLIC}" "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(EXPECT_MISSING)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled: the layer can include ${EXPECT_MISSING}")
  endif()
  string(FIND "${err}" "${EXPECT_MISSING}" at)
  if(at EQUAL -1 OR NOT err MATCHES "No such file|file not found")
    message(FATAL_ERROR "${SOURCE} failed for another reason:\n${err}")
  endif()
  message(STATUS "refused as expected: ${EXPECT_MISSING}")
elseif(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} did not compile:\n${err}")
endif()
