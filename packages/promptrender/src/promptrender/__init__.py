"""How a prompt template version renders, in one place for the server and the client.

- `placeholders`: the `{{name}}` syntax, parsed once into literal pieces and variable names;
- `variables`: variable schemas and the checks of render-time values;
- `definitions`: a version's content, messages and variables, validated as a whole;
- `rendering`: a version compiled into a `RenderPlan`, which renders values without evaluating them;
- `assignment`: which variant of an A/B test a subject sees (a deterministic hash).

Pure Python (the standard library and `regex`): no Django, no I/O.
"""
