"""Demo sections, one module per function, each exposing run(stack)."""
