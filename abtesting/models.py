"""A/B tests: models land with issue 13."""
