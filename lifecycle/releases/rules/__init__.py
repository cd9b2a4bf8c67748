"""Trigger rules: one engine for alerts and automatic rollback (issue 12; research 5.2-5.5).

models (what we store: rules, their state, evaluations, alerts) -> definitions, validation (what a rule may
say) -> services (rules' writes) -> measure, statistics, engine (what an evaluation finds and decides) ->
evaluation (the engine's service: measure, lock, decide, act) -> actions.act (the one place a decision
becomes an act) -> tasks (beat), api/, lifecycle/releases/admin/rules.py.
"""
