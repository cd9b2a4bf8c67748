"""Executions reported by integrations, their hourly and daily rollups, and the metrics read from them."""
