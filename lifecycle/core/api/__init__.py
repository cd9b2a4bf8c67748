"""API plumbing shared by every app: authentication, parsing limits, pagination, the error shape."""
