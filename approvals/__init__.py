"""Approval workflows: per-environment policies, approval requests and their stages, the reviewers' admin."""
