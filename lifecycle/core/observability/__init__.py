"""What operators watch: Prometheus metrics (`metrics`), structured logs with a request or task id
(`logs`, `middleware`), and the dependencies the health check probes (lifecycle.core.broker)."""
