"""A/B tests of prompt versions (DESIGN.md, layer 3): their states, deterministic assignment of subjects
to variants, and results with statistics you can trust."""
