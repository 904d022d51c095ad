# Turns a text file (JSON config or schema) into a C++ source that holds it as a string:
#   cmake -DIN=file.json -DOUT=file.cpp -DSYMBOL=name -P embed_text.cmake
file(READ "${IN}" content)
file(WRITE "${OUT}" "// Generated from ${IN}; do not edit.\n"
  "namespace cohort::detail {\n"
  "extern const char* const ${SYMBOL};\n"
  "const char* const ${SYMBOL} = R\"cohort_embed(${content})cohort_embed\";\n"
  "}\n")
