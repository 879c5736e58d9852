"""xspidl — the xsp IDL compiler as a package (entry point: sdk/gen/xspgen.py).

Owns: lexer -> parser -> model (resolved Program) -> cnames (C mapping) -> emitters.
Never touches: anything outside the outputs the command line names.
"""
