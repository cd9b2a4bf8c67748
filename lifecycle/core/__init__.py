"""The kernel every app may use: environments, roles, domain errors, API plumbing. It imports no app."""
