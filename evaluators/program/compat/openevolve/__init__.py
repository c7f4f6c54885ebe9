"""evoforge's stand-in for the `openevolve` package: only `openevolve.evaluation_result`.

Found only when the real OpenEvolve is not importable (the harness appends this folder to the
end of `sys.path`). Evaluators may check `openevolve.EVOFORGE_SHIM` to tell the two apart.
"""

EVOFORGE_SHIM = True
